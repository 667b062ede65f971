"""Which layers run in INT8: the measurement-driven policy shared by the three quantizers.

Layers are grouped (dense / grouped 1x1 / depthwise convs, classifier, dynamic heads). Dynamic
heads start in float, the rest in INT8. Each group is then flipped to the other precision when
the runtime measures it faster without hurting the logits, or more accurate at no speed cost.
With a top-1 budget, the quantized layers that add the most error go back to float, in doubling
steps, until the budget holds. Backends supply `build(int8_layer_names)` and the measurements.
"""

from __future__ import annotations

from typing import Callable

GROUPS = ("conv:dense", "conv:grouped", "conv:depthwise", "classifier", "dynamic")
FASTER = 0.97  # a flip must save >3% to count as faster (timer noise on a shared machine)
COS_TOLERANCE = 2e-3


def initial_precision() -> dict[str, str]:
    return {g: ("float" if g == "dynamic" else "int8") for g in GROUPS}


def initial_reasons() -> dict[str, str]:
    return {g: ("dynamic element-wise head: float by default" if g == "dynamic" else "int8 by default") for g in GROUPS}


def choose_groups(present, precision: dict, measure: Callable[[dict], tuple[float, float]],
                  reasons: dict, trials: list, label: str = "") -> dict:
    """Greedy flips over the groups present; `measure(precision) -> (latency_ms, logits_cosine)`."""
    cur_ms, cur_cos = measure(precision)
    trials.append({"groups": dict(precision), "ms": cur_ms, "cosine": cur_cos, **({"variant": label} if label else {})})
    for g in GROUPS:
        if g not in present:
            continue
        flip = dict(precision, **{g: "float" if precision[g] == "int8" else "int8"})
        ms, cos = measure(flip)
        trials.append({"groups": dict(flip), "ms": ms, "cosine": cos, **({"variant": label} if label else {})})
        faster = ms < FASTER * cur_ms and cos >= cur_cos - COS_TOLERANCE
        more_accurate = flip[g] == "float" and cos > cur_cos + 1e-2 and ms <= cur_ms / FASTER
        (a, ca), (b, cb) = ((ms, cos), (cur_ms, cur_cos)) if flip[g] == "int8" else ((cur_ms, cur_cos), (ms, cos))
        numbers = f"measured int8 {a:.3f} ms / logits cos {ca:.4f} vs float {b:.3f} ms / cos {cb:.4f}"
        if faster or more_accurate:
            precision, cur_ms, cur_cos = flip, ms, cos
            why = f"{flip[g]}: " + ("faster" if faster else "more accurate at no speed cost")
        else:
            lost = cos < cur_cos - COS_TOLERANCE
            why = f"{precision[g]}: the other precision was not faster" + (" and lost accuracy" if lost else "")
        reasons[g] = f"{why} ({numbers})"
    return precision


def fallback_for_drop(ranked: list[str], max_drop: float, fp32_top1: float, int8_top1: float,
                      evaluate: Callable[[list[str]], float]) -> tuple[list[str], float]:
    """Keep the top-k most sensitive layers float (k = 1, 2, 4, …) until fp32 − int8 ≤ max_drop."""
    forced: list[str] = []
    k = 1
    while fp32_top1 - int8_top1 > max_drop and ranked:
        forced = ranked[:k]
        int8_top1 = evaluate(forced)
        if k >= len(ranked):
            break
        k = min(len(ranked), k * 2)
    return forced, int8_top1


def rank_by_added_error(layers, int8_names: set, errors: dict) -> list[str]:
    """Quantized layers, most sensitive first: the error a layer adds on top of its input's error.

    `errors[tensor] = {"cosine": …}` for layer outputs / inputs (missing input: exact input).
    """
    scored = []
    for L in layers:
        if L.name not in int8_names or L.output not in errors:
            continue
        ei = errors.get(L.inputs[0]) if L.inputs else None
        added = (1 - errors[L.output]["cosine"]) - ((1 - ei["cosine"]) if ei else 0.0)
        scored.append((added, L.name))
    return [name for _, name in sorted(scored, reverse=True)]

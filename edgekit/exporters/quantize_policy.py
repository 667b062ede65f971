"""Which layers run in INT8: the measurement-driven policy shared by the three quantizers.

Layers are grouped (dense / grouped 1x1 / depthwise convs, classifier, dynamic heads). Dynamic
heads start in float, the rest in INT8. Each group is then flipped to the other precision when
the runtime measures it faster without hurting the logits, or more accurate at no speed cost.
With a top-1 budget, the quantized layers that add the most error go back to float, in doubling
steps, until the budget holds. Backends supply `build(int8_layer_names)` and the measurements.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

GROUPS = ("conv:dense", "conv:grouped", "conv:depthwise", "classifier", "dynamic")
FASTER = 0.95  # a flip must save >5% to count as faster (timer noise on a shared machine)
COS_TOLERANCE = 2e-3


def initial_precision() -> dict[str, str]:
    return {g: ("float" if g == "dynamic" else "int8") for g in GROUPS}


def initial_reasons() -> dict[str, str]:
    return {g: ("dynamic element-wise head: float by default" if g == "dynamic" else "int8 by default") for g in GROUPS}


def alternating_ms(calls: list[Callable[[], object]], rounds: int | None = None, seconds: float = 0.3) -> list[float]:
    """Median ms per call of each zero-argument `call`, timed in interleaved blocks (A×k, B×k, …,
    order reversed every round) so that load on a shared machine hits every variant alike.
    Blocks last ~5 ms; about `seconds` of timing per variant (at least 20 rounds)."""
    for c in calls:
        for _ in range(3):
            c()
    t = time.perf_counter()
    calls[0]()
    one = max(time.perf_counter() - t, 1e-6)
    block = max(1, int(0.005 / one))
    rounds = rounds or max(20, int(seconds / (block * one)))
    times: list[list[float]] = [[] for _ in calls]
    for r in range(rounds):
        order = range(len(calls)) if r % 2 == 0 else reversed(range(len(calls)))
        for i in order:
            t = time.perf_counter()
            for _ in range(block):
                calls[i]()
            times[i].append((time.perf_counter() - t) / block * 1e3)
    return [statistics.median(t) for t in times]


def choose_groups(present, precision: dict, build: Callable[[dict], object], caller: Callable[[object], Callable],
                  fidelity: Callable[[object], float], reasons: dict, trials: list, label: str = "",
                  passes: int = 2) -> dict:
    """Greedy flips over the groups present. For each flip the current and the flipped model are
    timed side by side (`caller(artifact)` gives a zero-argument inference call) and their logits
    compared with float (`fidelity(artifact)` → cosine)."""
    cur = build(precision)
    cur_cos = fidelity(cur)
    for _ in range(passes):  # a second pass re-checks each group once the others have settled
        changed = False
        for g in GROUPS:
            if g not in present:
                continue
            flip = dict(precision, **{g: "float" if precision[g] == "int8" else "int8"})
            new = build(flip)
            cos = fidelity(new)
            cur_ms, ms = alternating_ms([caller(cur), caller(new)])
            trials.append({"groups": dict(flip), "ms": ms, "cosine": cos, "vs_ms": cur_ms, "vs_cosine": cur_cos,
                           **({"variant": label} if label else {})})
            faster = ms < FASTER * cur_ms and cos >= cur_cos - COS_TOLERANCE
            more_accurate = flip[g] == "float" and cos > cur_cos + 1e-2 and ms <= cur_ms / FASTER
            (a, ca), (b, cb) = ((ms, cos), (cur_ms, cur_cos)) if flip[g] == "int8" else ((cur_ms, cur_cos), (ms, cos))
            numbers = f"measured side by side: int8 {a:.3f} ms / logits cos {ca:.4f} vs float {b:.3f} ms / cos {cb:.4f}"
            if faster or more_accurate:
                precision, cur, cur_cos, changed = flip, new, cos, True
                why = f"{flip[g]}: " + ("faster" if faster else "more accurate at no speed cost")
            else:
                lost = cos < cur_cos - COS_TOLERANCE
                why = f"{precision[g]}: the other precision was not faster" + (" and lost accuracy" if lost else "")
            reasons[g] = f"{why} ({numbers})"
        if not changed:
            break
    return precision


def verdict(fp32_ms: float, int8_ms: float, runtime: str) -> str:
    ratio = int8_ms / fp32_ms
    if ratio <= 0.7:
        return f"INT8 is {ratio:.2f}x FP32 on {runtime} here: meets the 0.7x target"
    if ratio < FASTER:
        return f"INT8 is {ratio:.2f}x FP32 on {runtime} here: faster, but not 0.7x"
    return (f"INT8 is {ratio:.2f}x FP32 on {runtime} here: no faster on this CPU (small, overhead-bound layers; "
            "the measured policy kept the layers that lost in INT8 float)")


@dataclass
class OutputReference:
    """The labels of a --max-drop budget for a model with several outputs: the float (PyTorch) outputs
    of the held-out samples, one (N, ...) array per output in the IO spec's order.

    The accuracy signal is then `output_fidelity`: 100 x (1 - the worst over outputs of max |q - ref| /
    max |ref|, each output against its own scale), so "top-1" 100 is exact and `--max-drop D` allows any
    output to be off by D% of its own largest value. Taking the worst output means an INT8 layer that
    ruins only the second output is caught even when the first is perfect."""
    outputs: list
    names: list

    def __len__(self) -> int:
        return len(self.outputs[0])


def split_outputs(pred, ref: OutputReference) -> list[np.ndarray]:
    """`pred` as one array per output: a list already, or one (N, sum of sizes) array of the outputs
    flattened and concatenated per sample (LiteRT's fetch), split by the reference's sizes."""
    if isinstance(pred, (list, tuple)):
        return [np.asarray(p) for p in pred]
    pred = np.asarray(pred).reshape(len(pred), -1)
    sizes = np.cumsum([int(np.prod(r.shape[1:])) for r in ref.outputs])[:-1]
    return list(np.split(pred, sizes, axis=1))


def per_output_errors(pred, ref: OutputReference) -> dict[str, float]:
    """{output name: max |pred - ref| / max |ref|} over the held-out samples."""
    got = split_outputs(pred, ref)
    if len(got) != len(ref.outputs):
        raise ValueError(f"{len(got)} outputs to compare with {len(ref.outputs)} references")
    errs = {}
    for name, g, r in zip(ref.names, got, ref.outputs):
        r = np.asarray(r, np.float64).reshape(len(r), -1)
        g = np.asarray(g, np.float64).reshape(r.shape)
        errs[name] = float(np.abs(g - r).max() / (np.abs(r).max() or 1.0))
    return errs


def output_fidelity(pred, ref: OutputReference) -> float:
    """100 x (1 - the worst per-output error relative to that output's own scale): see OutputReference."""
    return 100.0 * (1.0 - max(per_output_errors(pred, ref).values()))


def eval_score(pred, labels) -> float:
    """The --max-drop signal of predictions `pred` (one array, or a list of one per output): top-1 of the
    first output against class labels, or `output_fidelity` against an OutputReference."""
    if isinstance(labels, OutputReference):
        return output_fidelity(pred, labels)
    from edgekit.analysis.accuracy import topk_accuracy

    return topk_accuracy(pred[0] if isinstance(pred, (list, tuple)) else pred, labels).top1


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


def accuracy_with_budget(top1: Callable, fp32, final, n: int, max_drop: float | None, ranked: Callable[[], list[str]],
                         evaluate: Callable[[list[str]], float], rebuild: Callable[[list[str]], object]):
    """Top-1 of the float and INT8 models (`top1(model)`), and with a --max-drop budget the fallback:
    `ranked()` lists the quantized layers most sensitive first, `evaluate(forced)` is the top-1 with
    `forced` kept float, `rebuild(forced)` the final model. Returns (final, forced, accuracy dict)."""
    forced: list[str] = []
    fp32_top1, int8_top1 = top1(fp32), top1(final)
    if max_drop is not None and fp32_top1 - int8_top1 > max_drop:
        forced, int8_top1 = fallback_for_drop(ranked(), max_drop, fp32_top1, int8_top1, evaluate)
        final = rebuild(forced)
    acc = {"fp32_top1": fp32_top1, "int8_top1": int8_top1, "drop": fp32_top1 - int8_top1, "n": int(n),
           "max_drop": max_drop, "within_budget": None if max_drop is None else fp32_top1 - int8_top1 <= max_drop}
    return final, forced, acc


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


def annotate_layers(layers, chosen: set, keep_float: set, forced: list, reasons: dict, errors: dict, max_drop) -> None:
    """Fill each layer's precision, the reason for it, and its error against float (cosine, max abs
    error, and the error the layer adds on top of its input's)."""
    for L in layers:
        L.precision = "int8" if L.name in chosen else "float"
        if L.name in keep_float:
            L.reason = "float: asked for (keep_float)"
        elif L.name in forced:
            L.reason = f"float: among the most sensitive layers, needed for --max-drop {max_drop}"
        else:
            L.reason = f"{L.group} group, {reasons[L.group]}"
        e, ei = errors.get(L.output), errors.get(L.inputs[0]) if L.inputs else None
        if e:
            L.cosine, L.max_abs_err = e["cosine"], e["max_abs_err"]
            L.added_error = (1 - e["cosine"]) - ((1 - ei["cosine"]) if ei else 0.0)


def policy_report(*, runtime: str, tool: str, calib_method: str, calib_samples: int, int8_io: bool,
                  precision: dict, reasons: dict, present, layers, forced: list, fp32_ms, int8_ms, search: bool,
                  logits_cosine: float, accuracy, trials, started: float, **extra) -> dict:
    """The INT8 report every backend writes: per-group and per-layer precision with the reason,
    the measured FP32/INT8 latency and verdict, fidelity and accuracy. `extra` adds backend keys."""
    from dataclasses import asdict

    return {
        "runtime": runtime,
        "tool": tool,
        **extra,
        "calib_method": calib_method,
        "calib_samples": int(calib_samples),
        "int8_io": int8_io,
        "groups": {g: {"precision": precision[g], "reason": reasons[g]} for g in GROUPS if g in present},
        "layers": [asdict(L) for L in layers],
        "n_int8": sum(L.precision == "int8" for L in layers),
        "n_float": sum(L.precision == "float" for L in layers),
        "kept_float_for_accuracy": forced,
        "latency_ms": {"fp32": fp32_ms, "int8": int8_ms, "threads": 1, "how": "interleaved blocks, one process"}
        if search else None,
        "verdict": verdict(fp32_ms, int8_ms, runtime) if search else None,
        "logits_cosine": logits_cosine,
        "accuracy": accuracy,
        "search": trials,
        "seconds": round(time.perf_counter() - started, 2),
    }


def with_int8_top1(accuracy: dict | None, int8_top1: float, max_drop) -> dict | None:
    """`accuracy` re-stated for the file finally written (e.g. after --int8-io changed its I/O)."""
    if accuracy is None:
        return None
    drop = accuracy["fp32_top1"] - int8_top1
    return accuracy | {"int8_top1": int8_top1, "drop": drop,
                       "within_budget": None if max_drop is None else drop <= max_drop}

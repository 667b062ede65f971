"""Whole-model latency from a latency table: the sum of the blocks' entries plus a learned correction
per runtime and thread count, and its validation on architectures measured whole.

    predicted = alpha · Σ block medians + beta

alpha and beta are fitted (least squares) on the table's calibration architectures, measured whole
in the same interleaved run as the blocks: beta absorbs what timing each block alone adds per
invoke (one input copy, one dispatch per block instead of one per model) and alpha what the
partition boundaries between blocks change. A block with no entry is an error naming it, never a
zero; emulated entries are never used as latencies; a table measured with another runtime version
than asked is refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.search.space import block_key, block_label


@dataclass
class Table:
    device: str
    path: Path
    blocks: dict = field(default_factory=dict)  # (block_key, threads) -> record
    models: list = field(default_factory=list)  # role "model" records
    space: dict | None = None

    def conditions(self) -> list[dict]:
        return [r["conditions"] for r in [*self.blocks.values(), *self.models]]


def devices_in(lut_dir) -> list[str]:
    root = Path(lut_dir)
    return sorted(p.name for p in root.iterdir() if (p / "results.jsonl").is_file()) if root.is_dir() else []


def load_table(lut_dir, device: str, runtime_version: str | None = None, allow_emulated: bool = False,
               target: str | None = None) -> Table:
    """The device's table; EdgekitError when it is missing, mixes emulated and real entries, holds
    emulated entries (unless `allow_emulated`), or was measured with another runtime version."""
    from edgekit.sweep.store import read_records

    root = Path(lut_dir)
    path = root / device / "results.jsonl"
    if not path.is_file():
        have = devices_in(root)
        raise EdgekitError(f"no latency table for device {device!r} in {root} "
                           f"({'tables: ' + ', '.join(have) if have else 'no tables there'}; "
                           f"make one with `edgekit lut SPACE.toml -o {root} --device {device}`)")
    records = read_records(path, kind="lut")
    if target is not None:
        records = [r for r in records if r["target"] == target]
    if not records:
        raise EdgekitError(f"{path}: no entries{f' for target {target}' if target else ''}")
    emulated = {bool(r["conditions"].get("emulated")) for r in records}
    if len(emulated) > 1:
        raise EdgekitError(f"{path} mixes emulated and real entries: emulated times are not latencies; "
                           f"measure the emulated device into its own --device")
    if emulated == {True} and not allow_emulated:
        raise EdgekitError(f"{path}: every entry is emulated (qemu-user): these times say nothing about a device's "
                           f"latency (pass --allow-emulated to see them, marked emulated)")
    versions = {(r["conditions"].get("runtime"), r["conditions"].get("runtime_version")) for r in records}
    if len(versions) > 1:
        raise EdgekitError(f"{path} holds entries of several runtimes/versions "
                           f"({', '.join(f'{a} {b}' for a, b in sorted(versions, key=str))}): one table per runtime version")
    (runtime, version), = versions
    if runtime_version is not None and version != runtime_version:
        raise EdgekitError(f"the table for {device!r} was measured with {runtime} {version}, not {runtime_version}: "
                           f"re-measure it (edgekit lut ... --device {device}) or ask for {version}")
    table = Table(device, path)
    for r in records:
        if r["role"] == "block":
            table.blocks[(r["block_key"], r["threads"])] = r
        else:
            table.models.append(r)
    sp = path.parent / "space.json"
    table.space = json.loads(sp.read_text()) if sp.is_file() else None
    return table


def block_sum(table: Table, blocks, threads: int) -> tuple[float, list[dict]]:
    """Σ of the blocks' medians; EdgekitError naming the first block without an entry."""
    total, parts = 0.0, []
    for spec, shape in blocks:
        r = table.blocks.get((block_key(spec, shape), threads))
        if r is None:
            have = sorted({t for (_, t) in table.blocks})
            raise EdgekitError(f"block {block_label(spec)} at input {list(shape)} has no entry in {table.path} at "
                               f"{threads} thread(s) (threads there: {', '.join(map(str, have)) or 'none'}); "
                               f"run `edgekit lut` on a space that has it")
        ms = r["latency_ms"]["median"]
        total += ms
        parts.append({"block": block_label(spec), "input": list(shape), "ms": ms})
    return total, parts


def fit_correction(table: Table, threads: int, run: str | None = None, purpose: str = "calibrate") -> dict:
    """alpha, beta from the calibration architectures at `threads` (of one run: the latest, or `run`)."""
    recs = [m for m in table.models if m["threads"] == threads and m.get("purpose") == purpose]
    if run is None and recs:
        run = recs[-1]["run"]
    recs = [m for m in recs if m["run"] == run]
    if not recs:
        return {"alpha": 1.0, "beta": 0.0, "n": 0, "run": None, "note": "no calibration architectures: plain sum"}
    xs = [block_sum(table, _blocks_of(m), threads)[0] for m in recs]
    ys = [m["latency_ms"]["median"] for m in recs]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if n >= 2 and sxx > 1e-12 * max(mx * mx, 1e-12):
        alpha = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        if alpha <= 0:  # noise beat the spread: keep the per-invoke overhead only
            alpha = 1.0
        beta = my - alpha * mx
    else:
        alpha, beta = 1.0, my - mx
    return {"alpha": alpha, "beta": beta, "n": n, "run": run}


def _blocks_of(model_record) -> list:
    return [(b["spec"], tuple(b["input"])) for b in model_record["blocks"]]


def predict_blocks(table: Table, blocks, threads: int, correction: dict | None = None) -> dict:
    total, parts = block_sum(table, blocks, threads)
    corr = correction or fit_correction(table, threads)
    return {"predicted_ms": corr["alpha"] * total + corr["beta"], "block_sum_ms": total, "blocks": parts,
            "correction": corr, "threads": threads, "device": table.device}


def errors_summary(rows: list[dict]) -> dict:
    """RMSPE (%) and the shares within ±5 % / ±10 % of predicted vs measured."""
    errs = [(r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"] for r in rows]
    n = len(errs)
    if not n:
        return {"n": 0}
    return {"n": n, "rmspe_pct": 100 * math.sqrt(sum(e * e for e in errs) / n),
            "within_5_pct": 100 * sum(abs(e) <= 0.05 for e in errs) / n,
            "within_10_pct": 100 * sum(abs(e) <= 0.10 for e in errs) / n,
            "max_abs_err_pct": 100 * max(abs(e) for e in errs)}


def validate(space, lut_dir, device: str, n: int, threads: list[int], target: str, precision: str = "fp32",
             runs: int = 100, warmup: int = 10, seed: int = 1, dev=None, progress=None) -> dict:
    """Sample n architectures (none of the calibration ones), measure them whole together with the
    calibration architectures (one interleaved run), fit the correction on this run's calibration
    measurements and compare. Records go into the table (purpose "validate" / "calibrate")."""
    from edgekit.search.lut import calibration_archs, measure, model_item

    table = load_table(lut_dir, device, target=target)
    calib = [tuple(m["choices"]) for m in table.models if m.get("purpose") == "calibrate"]
    calib = list(dict.fromkeys(calib)) or calibration_archs(space, 3)
    archs = space.sample(n, seed, exclude=calib)
    for c in archs:  # a missing block fails before anything is measured
        for t in threads:
            block_sum(table, space.architecture(c), t)
    items = [model_item(space, c, target, precision, "calibrate") for c in calib]
    items += [model_item(space, c, target, precision, "validate") for c in archs]
    out = measure(items, threads, lut_dir, device, dev, runs, warmup, progress, remeasure=True)
    table = load_table(lut_dir, device, target=target)
    report = {"device": device, "target": target, "architectures": len(archs), "calibration": len(calib),
              "run": out["run"], "threads": {}}
    for t in threads:
        corr = fit_correction(table, t, run=out["run"])
        rows = []
        for r in out["records"]:
            if r["threads"] != t or r["purpose"] != "validate":
                continue
            p = predict_blocks(table, _blocks_of(r), t, corr)
            rows.append({"choices": r["choices"], "measured_ms": r["latency_ms"]["median"],
                         "predicted_ms": p["predicted_ms"], "block_sum_ms": p["block_sum_ms"],
                         "cv": r["latency_ms"].get("cv")})
        report["threads"][t] = {"correction": corr, **errors_summary(rows), "rows": rows,
                                "conditions": out["records"][0]["conditions"] if out["records"] else None}
    return report

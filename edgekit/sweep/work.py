"""The work of a sweep, shared by both engines: export one grid point (cached), bench one file on
one device, and turn both into the cell's record.

`export_work` and `bench_work` never raise for a failure of the cell itself: they return
{"ok": False, "stage": ..., "error": ...}, which the engine records for every cell concerned
before going on with the others (a process pool or Ray moves return values more reliably than
exception objects).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import traceback
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.sweep.cache import INFO, ExportCache, eval_key

SCHEMA = 1


def _failure(stage: str, exc: BaseException) -> dict:
    if isinstance(exc, EdgekitError):
        message = str(exc)
    else:
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        at = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        message = f"{type(exc).__name__}: {exc}{at}"
    return {"ok": False, "stage": stage, "error": message.splitlines()[0][:500] if message else type(exc).__name__}


def init_export_worker() -> None:
    """Process-pool initializer: one intra-op thread per export worker (the pool is the parallelism)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def export_work(spec, key: str, sweep, cache_root) -> dict:
    """Export `spec` into the cache (or find it there) and measure or look up its accuracy."""
    init_export_worker()
    cache = ExportCache(cache_root)
    info = cache.get(spec, key)
    fresh = info is None
    if fresh:
        tmp = cache.staging(spec, key)
        try:
            info = _export(spec, key, sweep, tmp)
            ExportCache.write_json(tmp / INFO, info)
            cache.commit(tmp, spec, key)
        except KeyboardInterrupt:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure of this export is this cell's failure
            shutil.rmtree(tmp, ignore_errors=True)
            return _failure("export", exc)
    directory = cache.dir_for(spec, key)
    try:
        accuracy = _accuracy(spec, sweep, cache, directory, info)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001
        return _failure("eval", exc) | {"export": info | {"fresh": fresh, "dir": str(directory)}}
    return {"ok": True, "export": info | {"fresh": fresh, "dir": str(directory)}, "accuracy": accuracy}


def _export(spec, key: str, sweep, out: Path) -> dict:
    from edgekit.exporters.pipeline import export_model

    int8 = spec.precision == "int8"
    m = spec.model
    result = export_model(m.source, spec.target, weights=m.weights, num_classes=m.num_classes,
                          input_size=spec.input_size, inputs=list(m.inputs) or None, precision=spec.precision, opset=sweep.opset,
                          verify=sweep.verify, out=f"{out}/", force=True, calib=sweep.calib if int8 else None,
                          calib_method=sweep.calib_method, calib_size=sweep.calib_size if int8 else None,
                          n_parity=sweep.parity_samples)
    e = result.exports[0]
    meta = e.meta
    madds = meta.get("madds") or {}
    return {"key": key, "label": spec.label, "file": e.file.name, "files": [p.name for p in e.files],
            "size_bytes": meta.get("size_bytes"), "params": madds.get("params"),
            "madds": madds.get("total_madds"), "conv_madds": madds.get("conv_madds"),
            "graph_madds": madds.get("graph_madds"), "card": meta.get("card"),
            "parity": meta.get("parity"), "warnings": result.warnings, "seconds": round(result.seconds, 2),
            "rewrite_status": meta.get("rewrite_status")}


def _accuracy(spec, sweep, cache: ExportCache, directory: Path, info: dict) -> dict | None:
    """Top-1 measured on the sweep's eval data (cached per data), else the card's published top-1
    when this cell is at the published resolution with the published weights, else None."""
    ek = eval_key(sweep)
    if ek is None or spec.model.fixed_inputs:  # top-1 on images needs one image input (tasks: edgekit eval --task)
        return published_top1(spec, info)
    cached = cache.read_eval(directory, ek)
    if cached is not None:
        return cached
    from edgekit.analysis.accuracy import runner_predict, topk_accuracy
    from edgekit.calibration import load_calibration_set
    from edgekit.models.card import Card
    from edgekit.runtimes.base import open_runner

    runner = open_runner(directory / info["file"], threads=1)
    data = load_calibration_set(sweep.eval_data, Card.from_dict(info["card"]), size=sweep.eval_size, progress=False)
    if data.labels is None:
        raise EdgekitError(f"{sweep.eval_data} has no labels: use class sub-folders, or an .npz with a 'y' array")
    logits = runner_predict(runner, data.x)
    if logits.shape[1] <= int(data.labels.max()):
        raise EdgekitError(f"eval labels go up to {int(data.labels.max())} but the model has {logits.shape[1]} classes")
    acc = topk_accuracy(logits, data.labels).to_dict() | {"source": "measured", "data": str(sweep.eval_data)}
    ExportCache.write_json(directory / f"eval-{ek}.json", acc)
    return acc


def published_top1(spec, info: dict) -> dict | None:
    card = info.get("card") or {}
    if card.get("published_top1") is None or spec.model.weights is not None:
        return None
    try:
        from edgekit.models.registry import get_card, is_registered

        if not is_registered(spec.model.source):
            return None
        size = get_card(spec.model.source).input_size[-1]
    except ImportError:
        return None
    if spec.input_size != size:
        return None
    return {"top1": card["published_top1"], "source": f"published (model card, {size} px): the paper's figure for "
                                                     f"its trained weights, not measured on this export (random weights)"}


def bench_work(device, file: str, threads: int, runs: int, warmup: int, seconds: float | None) -> dict:
    """Time `file` on `device` (local, ssh or adb): {"ok": True, "bench": <bench dict>} or a failure."""
    try:
        n_runs = runs if seconds is None else 1
        if device.kind == "local":
            from edgekit.runtimes.bench import benchmark

            result = benchmark(file, threads=threads, warmup=warmup, runs=n_runs, seconds=seconds)
        elif device.kind == "ssh":
            from edgekit.runtimes.remote.ssh import bench_over_ssh

            result = bench_over_ssh(device.address, [Path(file)], "auto", threads, warmup, n_runs, seconds,
                                    device.key)[0]
        else:
            from edgekit.runtimes.remote.adb import bench_over_adb

            result = bench_over_adb(device.serial, [Path(file)], threads, warmup, n_runs, seconds,
                                    device.benchmark_model)[0]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - an unreachable device fails its cells, not the sweep
        return _failure("bench", exc)
    return {"ok": True, "bench": result}


def make_record(cell, export: dict, bench: dict | None, run_id: str, extra: dict | None = None) -> dict:
    """The cell's line in results.jsonl: ok with export, accuracy and bench, or failed with stage and error."""
    failed = next((d for d in (export, bench) if d is not None and not d.get("ok")), None)
    record = {"kind": "sweep_cell", "schema": SCHEMA, "key": cell.key, "cell": cell.to_dict(),
              "status": "failed" if failed else "ok", "run": run_id,
              "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if failed:
        record |= {"stage": failed["stage"], "error": failed["error"]}
    if export.get("export"):
        record["export"] = export["export"]
    if export.get("ok"):
        record["accuracy"] = export.get("accuracy")
    if bench is not None and bench.get("ok"):
        record["bench"] = bench["bench"]
    return record | (extra or {})

"""Latency lookup tables: every distinct (block, input shape) of a space, exported through edgekit's
own rewrite + export and timed on the device with the same bench as everywhere, interleaved.

    lut/
      exports/<stem>-<key>/      the export cache (sweep's ExportCache): one block or network each
      <device>/results.jsonl     the device's table (sweep's append-only store, kind "lut"):
                                 role "block"  one (block, input shape, target, precision, threads)
                                 role "model"  a whole architecture (calibrate: fits the predictor's
                                               correction; validate: checks it), with its run id

Every record carries its run conditions (runtime and version, threads, delegate, CPU model,
governor where readable, emulated or not). A key already in the table is not measured again, so
an interrupted run resumes; several devices share one directory (and its exports).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from edgekit import __version__
from edgekit.errors import EdgekitError
from edgekit.search.arch import module_text, write_text_atomic
from edgekit.search.space import block_key, block_label

KIND = "lut"
SCHEMA = 1
DELEGATES = {"litert": "XNNPACK", "onnxruntime": "CPUExecutionProvider", "openvino": "CPU", "executorch": "XNNPACK"}


@dataclass(frozen=True)
class _Model:
    name: str


@dataclass(frozen=True, eq=False)
class Item:
    """One thing to export and time: a block at its input shape, or a whole architecture."""
    role: str  # block | model
    blocks: tuple  # ((spec, shape), ...) as json-able tuples
    label: str
    target: str
    precision: str
    choices: tuple | None = None
    purpose: str | None = None  # models: calibrate | validate

    @property
    def model(self):
        return _Model(self.label)

    @property
    def input_size(self) -> int:
        return self.blocks[0][1][-1]

    @property
    def content_key(self) -> str:
        """What the export depends on: the blocks, target, precision and edgekit's version."""
        text = json.dumps({"blocks": [[s, list(sh)] for s, sh in self.blocks], "target": self.target,
                           "precision": self.precision, "edgekit": __version__}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def record_key(self, threads: int) -> str:
        return f"{self.role}:{self.content_key}:t{threads}"


def block_item(spec, shape, target, precision) -> Item:
    return Item("block", ((spec, tuple(shape)),), block_label(spec), target, precision)


def model_item(space, choices, target, precision, purpose) -> Item:
    blocks = tuple((s, tuple(sh)) for s, sh in space.architecture(choices))
    return Item("model", blocks, "arch-" + "-".join(map(str, choices)), target, precision, tuple(choices), purpose)


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def governor() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip() or None
    except OSError:
        return None


def conditions(bench: dict, local: bool) -> dict:
    host = bench.get("host") or {}
    return {"runtime": bench.get("runtime"), "runtime_version": bench.get("runtime_version"),
            "threads": bench.get("threads"), "delegate": DELEGATES.get(bench.get("runtime")),
            "cpu_model": cpu_model() if local else host.get("cpu_model"),
            "governor": governor() if local else host.get("governor"),
            "emulated": host.get("emulated"), "where": bench.get("where"), "node": host.get("node"),
            "machine": host.get("machine"), "cpus_available": host.get("cpus_available")}


def export_item(item: Item, cache_root, verify: bool = False) -> dict:
    """Export `item` into the cache (or find it there): {"dir", "file", "fresh", "census"...}."""
    from edgekit.sweep.cache import INFO, ExportCache

    cache = ExportCache(cache_root)
    key = item.content_key
    info = cache.get(item, key)
    fresh = info is None
    if fresh:
        from edgekit.exporters.pipeline import export_model

        tmp = cache.staging(item, key)
        try:
            src = tmp / "net.py"
            space_classes = next((s["num_classes"] for s, _ in item.blocks if s["type"] == "head"), 10)
            write_text_atomic(src, module_text(item.blocks, item.label, f"{item.role} {item.label}",
                                               "latency table", space_classes))
            result = export_model(f"{src}:build", item.target, precision=item.precision, out=f"{tmp}/", force=True,
                                  condition=True, verify=verify, n_parity=1,
                                  calib="synthetic" if item.precision == "int8" else None,
                                  calib_size=16 if item.precision == "int8" else None)
            e = result.exports[0]
            census = e.meta.get("census") or {}
            info = {"key": key, "label": item.label, "role": item.role, "file": e.file.name,
                    "size_bytes": e.meta.get("size_bytes"), "rewrite_status": e.meta.get("rewrite_status"),
                    "ops": census.get("ops"), "partitions": (census.get("delegation") or {}).get("partitions"),
                    "madds": (e.meta.get("madds") or {}).get("total_madds"), "seconds": round(result.seconds, 2)}
            ExportCache.write_json(tmp / INFO, info)
            cache.commit(tmp, item, key)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return info | {"fresh": fresh, "dir": str(cache.dir_for(item, key))}


def time_files(files, threads: list[int], device, runs: int, warmup: int) -> list[dict]:
    """Bench results for every file × thread count (file-major), interleaved in one run."""
    if device is None or device.kind == "local":
        from edgekit.runtimes.bench import benchmark_files

        return benchmark_files(files, threads=threads, runs=runs, warmup=warmup)
    if device.kind == "ssh":
        import tempfile

        from edgekit.artifact import sidecar_path
        from edgekit.runtimes.bench import artifact_files
        from edgekit.runtimes.remote.ssh import bench_over_ssh

        # every cached export is net-build.<ext>: the device gets them under distinct names (links)
        with tempfile.TemporaryDirectory(prefix="edgekit-lut-") as tmp:
            links = []
            for i, f in enumerate(files):
                f = Path(f)
                for part in [*artifact_files(f), sidecar_path(f)]:
                    if part.exists():
                        (Path(tmp) / f"{i:04d}-{part.name}").symlink_to(part.resolve())
                links.append(Path(tmp) / f"{i:04d}-{f.name}")
            results = bench_over_ssh(device.address, links, "auto", threads, warmup, runs, None, device.key)
        for r in results:
            r["file"] = str(files[int(Path(r["file"]).name[:4])])
        return results
    raise EdgekitError(f"device kind {device.kind!r} cannot time latency tables yet (local or ssh)")


def record(item: Item, bench: dict, export: dict, device_name: str, run: str, local: bool) -> dict:
    rec = {"kind": KIND, "schema": SCHEMA, "key": item.record_key(bench["threads"]), "role": item.role,
           "label": item.label, "target": item.target, "precision": item.precision, "threads": bench["threads"],
           "device": device_name, "run": run, "latency_ms": bench["latency_ms"], "runs": bench.get("runs"),
           "conditions": conditions(bench, local),
           "export": {k: export.get(k) for k in ("dir", "file", "ops", "partitions", "madds", "size_bytes")},
           "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if item.role == "block":
        spec, shape = item.blocks[0]
        rec |= {"block": spec, "input": list(shape), "block_key": block_key(spec, shape)}
    else:
        rec |= {"choices": list(item.choices), "purpose": item.purpose,
                "blocks": [{"spec": s, "input": list(sh)} for s, sh in item.blocks]}
    return rec


def measure(items: list[Item], threads: list[int], out_dir, device_name: str = "local", device=None,
            runs: int = 100, warmup: int = 10, progress=None, store=None, remeasure: bool = False) -> dict:
    """Export and time `items` at every thread count into OUT/<device>/results.jsonl.

    Pending (item, threads) pairs only (unless `remeasure`: validation re-times its calibration
    models in the same run). Returns {"run", "measured", "already", "exports_fresh", "records"}."""
    from edgekit.sweep.cache import ExportCache
    from edgekit.sweep.store import ResultsStore

    out_dir = Path(out_dir).resolve()
    own = store is None
    store = store or ResultsStore(out_dir / device_name, kind=KIND)
    run = uuid.uuid4().hex[:12]
    try:
        todo = [it for it in items if remeasure or any(it.record_key(t) not in store.done for t in threads)]
        ExportCache(out_dir / "exports").clean_staging()
        exports, fresh = [], 0
        for i, it in enumerate(todo):
            if progress:
                progress(f"export {it.label}", i, len(todo))
            exports.append(export_item(it, out_dir / "exports"))
            fresh += exports[-1]["fresh"]
        records = []
        if todo:
            if progress:
                progress(f"timing {len(todo)} file(s) × {len(threads)} thread count(s), interleaved", len(todo), len(todo))
            files = [os.path.join(e["dir"], e["file"]) for e in exports]
            results = time_files(files, threads, device, runs, warmup)
            local = device is None or device.kind == "local"
            for j, bench in enumerate(results):
                it = todo[j // len(threads)]
                rec = record(it, bench, exports[j // len(threads)], device_name, run, local)
                if remeasure:
                    rec["key"] = f"{rec['key']}:run-{run}"
                store.append(rec)
                records.append(rec)
        return {"run": run, "measured": len(todo), "already": len(items) - len(todo), "exports_fresh": fresh,
                "records": records}
    finally:
        if own:
            store.close()


def build_lut(space, out_dir, target: str = "tflite", precision: str = "fp32", threads=(1,), device_name="local",
              device=None, runs: int = 100, warmup: int = 10, calibrate: int = 5, seed: int = 0, progress=None) -> dict:
    """The space's table on one device: every distinct block, plus `calibrate` whole architectures
    (the predictor's correction is fitted on them), timed together in one interleaved run."""
    items = [block_item(s, sh, target, precision) for s, sh in space.distinct_blocks()]
    items += [model_item(space, c, target, precision, "calibrate") for c in calibration_archs(space, calibrate, seed)]
    summary = measure(items, list(threads), out_dir, device_name, device, runs, warmup, progress)
    write_text_atomic(Path(out_dir) / device_name / "space.json", json.dumps(space.to_dict(), indent=2) + "\n")
    summary["blocks"] = sum(1 for it in items if it.role == "block")
    summary["calibration_models"] = calibrate
    return summary


def calibration_archs(space, n: int, seed: int = 0) -> list[tuple[int, ...]]:
    """The all-first and all-last candidate architectures (spread in latency: they pin the correction's
    slope), then seeded samples."""
    corners = []
    if n >= 1 and space.stages:
        corners.append(tuple(0 for _ in space.stages))
    if n >= 2 and space.stages:
        corners.append(tuple(len(st.candidates) - 1 for st in space.stages))
    corners = list(dict.fromkeys(corners))[:n]
    return corners + space.sample(n - len(corners), seed, exclude=corners)

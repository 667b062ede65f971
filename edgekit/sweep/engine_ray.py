"""The Ray engine (`edgekit sweep --ray ADDRESS`): the same sweep on a Ray cluster.

Export tasks run anywhere (one CPU each, spread over the nodes); each bench task asks for the
custom resource `device:NAME`, which only the node holding that device has (start it with
`ray start --address HEAD --resources '{"device:pi": 1}'`), with one unit, so one timed task runs
at a time per device. Files travel through Ray's object store, not a shared disk: the factory
file, weights and calibration/eval files go to the export task, the finished export comes back
to the driver's cache (a re-run redoes nothing) and goes on to the bench tasks. Records are
written by the driver as each bench task returns.

When a node dies, Ray re-runs its export tasks elsewhere, and its bench tasks wait until a node
with that device's resource joins again; the driver writes each cell once. A device no node
holds fails its cells at the start. Every node needs edgekit (with the runtimes) installed;
image-folder calibration/eval data must exist at the same path on every node (files are shipped).
Ray is imported only here, so the local engine does not need it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.sweep.cache import ExportCache
from edgekit.sweep.run import Recorder, Summary, pending
from edgekit.sweep.work import _failure, bench_work, export_work


def _import_ray():
    try:
        import ray
    except ImportError:
        raise EdgekitError("--ray needs Ray: pip install -c constraints.txt 'edgekit[ray]'") from None
    return ray


# ------------------------------------------------------------------------------ shipping files

def _factory_file(source: str) -> str | None:
    target, sep, _ = source.rpartition(":")
    return target if sep and target.endswith(".py") else None


def input_files(sweep) -> dict[str, bytes]:
    """Files an export task needs from the driver's disk: factory files, weights, calib/eval files."""
    paths = [p for m in sweep.models for p in (_factory_file(m.source), m.weights)]
    paths += [sweep.calib if sweep.calib != "synthetic" else None, sweep.eval_data]
    return {p: Path(p).read_bytes() for p in dict.fromkeys(paths) if p and Path(p).is_file()}


def _materialize(files: dict[str, bytes], root: Path) -> dict[str, str]:
    mapping = {}
    for i, (orig, data) in enumerate(files.items()):
        d = root / f"in{i}"
        d.mkdir(parents=True)
        (d / Path(orig).name).write_bytes(data)
        mapping[orig] = str(d / Path(orig).name)
    return mapping


def _relocate(spec, sweep, mapping: dict[str, str]):
    m = spec.model
    factory = _factory_file(m.source)
    source = m.source if factory not in mapping else mapping[factory] + m.source[len(factory):]
    model = dataclasses.replace(m, source=source, weights=mapping.get(m.weights, m.weights))
    sweep = dataclasses.replace(sweep, calib=mapping.get(sweep.calib, sweep.calib),
                                eval_data=mapping.get(sweep.eval_data, sweep.eval_data))
    return dataclasses.replace(spec, model=model), sweep


def _read_dir(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(directory).iterdir() if p.is_file()}


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - only a label in the record
        return None


# ------------------------------------------------------------------------------------- tasks

def export_task(spec, key: str, sweep, files: dict[str, bytes]) -> dict:
    """On any node: export into a scratch cache, return the result and the export directory's files."""
    root = Path(tempfile.mkdtemp(prefix="edgekit-sweep-"))
    try:
        spec, sweep = _relocate(spec, sweep, _materialize(files, root))
        result = export_work(spec, key, sweep, root / "cache")
        if result.get("export") and Path(result["export"]["dir"]).is_dir():
            result["blobs"] = _read_dir(Path(result["export"]["dir"]))
        return result | {"node": _node_id()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_task(device, blobs: dict[str, bytes], file: str, threads: int, runs: int, warmup: int,
               seconds: float | None) -> dict:
    """On the node holding `device`: write the artifact (with its sidecar) to scratch, time it there."""
    root = Path(tempfile.mkdtemp(prefix="edgekit-bench-"))
    try:
        for name, data in blobs.items():
            (root / name).write_bytes(data)
        return bench_work(device, str(root / file), threads, runs, warmup, seconds) | {"node": _node_id()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------ driver

def run_ray(address: str, sweep, store, cache_root, progress=None) -> Summary:
    ray = _import_ray()
    groups, keys, summary = pending(sweep, store)
    recorder = Recorder(store, summary, progress)
    if not groups:
        return summary
    _check_reachable(address)
    with _stdout_to_stderr():  # Ray's own notices ("Task ... will be retried") keep off --json output
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise EdgekitError(f"cannot connect to the Ray cluster at {address}: "
                               f"{str(exc).splitlines()[0][:200]}") from None
        try:
            return _drive(ray, groups, keys, sweep, recorder, ExportCache(cache_root))
        finally:
            ray.shutdown()


@contextlib.contextmanager
def _stdout_to_stderr():
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail in one line when host:port does not answer (ray.init would retry for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "ray://...": Ray resolves these itself
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EdgekitError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
                           f"(start it with `ray start --head --port {port}`)") from None


def _drive(ray, groups, keys, sweep, recorder: Recorder, cache: ExportCache) -> Summary:
    cache.clean_staging()
    remote_export = ray.remote(export_task).options(num_cpus=1, max_retries=3, scheduling_strategy="SPREAD")
    remote_bench = ray.remote(bench_task)
    held = {k for k, v in ray.cluster_resources().items() if v > 0}
    missing = {name for name, d in sweep.devices.items() if d.resource not in held}
    files_ref = None
    exports, benches = {}, {}

    def submit_benches(spec, result):
        blobs_ref = ray.put(_read_dir(Path(result["export"]["dir"])))
        for cell in groups[spec]:
            device = sweep.devices[cell.device]
            if cell.device in missing:
                recorder.record(cell, result, {"ok": False, "stage": "bench", "error":
                                               f"no node of the Ray cluster holds {device.resource} (start one with "
                                               f"ray start --address ... --resources '{{\"{device.resource}\": 1}}')"})
                continue
            ref = remote_bench.options(resources={device.resource: 1}, num_cpus=1 if device.kind == "local" else 0,
                                       max_retries=-1).remote(device, blobs_ref, result["export"]["file"],
                                                              cell.threads, sweep.runs, sweep.warmup, sweep.seconds)
            benches[ref] = (cell, result)

    for spec in groups:
        if cache.get(spec, keys[spec]) is not None:  # cached on the driver: only the (cached) eval is left
            result = export_work(spec, keys[spec], sweep, cache.root)
            recorder.export_done(result)
            if result.get("ok"):
                submit_benches(spec, result)
            else:
                for cell in groups[spec]:
                    recorder.record(cell, result, None)
            continue
        if files_ref is None:
            files_ref = ray.put(input_files(sweep))
        exports[remote_export.remote(spec, keys[spec], sweep, files_ref)] = spec

    while exports or benches:
        ready, _ = ray.wait(list(exports) + list(benches), num_returns=1)
        ref = ready[0]
        if ref in exports:
            spec = exports.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - the task failed past its retries
                result = _failure("export", exc)
            blobs = result.pop("blobs", None)
            if result.get("export") and blobs:
                tmp = cache.staging(spec, keys[spec])
                for name, data in blobs.items():
                    (tmp / name).write_bytes(data)
                final = cache.commit(tmp, spec, keys[spec])
                result["export"] = result["export"] | {"dir": str(final)}
            recorder.export_done(result)
            if result.get("ok"):
                submit_benches(spec, result)
            else:
                for cell in groups[spec]:
                    recorder.record(cell, result, None, {"ray": {"export_node": result.get("node")}})
        else:
            cell, result = benches.pop(ref)
            try:
                bench = ray.get(ref)
            except Exception as exc:  # noqa: BLE001
                bench = _failure("bench", exc)
            recorder.record(cell, result, bench, {"ray": {"export_node": result.get("node"),
                                                          "bench_node": bench.get("node")}})
    return recorder.summary


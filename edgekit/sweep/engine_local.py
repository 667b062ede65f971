"""The default engine: this machine. Exports run in parallel processes (one torch thread each);
timed runs are serialized per device so they do not disturb each other.

Remote devices (ssh, adb) start timing as soon as their export is ready, one cell at a time per
device. The local device times its cells after the exports have finished: timing on this
machine while export processes load its cores would measure the exports.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from edgekit.sweep.cache import ExportCache
from edgekit.sweep.run import Recorder, Summary, pending
from edgekit.sweep.work import bench_work, export_work, init_export_worker

_STOP = object()


def default_jobs() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores)


def run_local(sweep, store, cache_root, jobs: int | None = None, progress=None) -> Summary:
    groups, keys, summary = pending(sweep, store)
    recorder = Recorder(store, summary, progress)
    if not groups:
        return summary
    cache = ExportCache(cache_root)
    cache.clean_staging()
    bench_args = (sweep.runs, sweep.warmup, sweep.seconds)

    remote_queues: dict[str, queue.Queue] = {}
    threads = []

    def device_loop(device, q: queue.Queue):
        while (item := q.get()) is not _STOP:
            cell, result = item
            path = os.path.join(result["export"]["dir"], result["export"]["file"])
            recorder.record(cell, result, bench_work(device, path, cell.threads, *bench_args))

    for name, device in sweep.devices.items():
        if device.kind != "local":
            q = remote_queues[name] = queue.Queue()
            t = threading.Thread(target=device_loop, args=(device, q), name=f"bench-{name}", daemon=True)
            t.start()
            threads.append(t)

    local_work = []
    jobs = min(jobs or default_jobs(), len(groups))
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_export_worker)
    try:
        futures = {pool.submit(export_work, spec, keys[spec], sweep, str(cache_root)): spec for spec in groups}
        not_done = set(futures)
        while not_done:
            done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
            for fut in done:
                spec = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # the worker process died (killed, out of memory)
                    result = {"ok": False, "stage": "export", "error": f"export process died: {exc!r}"[:300]}
                recorder.export_done(result)
                for cell in groups[spec]:
                    if not result.get("ok"):
                        recorder.record(cell, result, None)
                    elif cell.device in remote_queues:
                        remote_queues[cell.device].put((cell, result))
                    else:
                        local_work.append((cell, result))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)

    for cell, result in local_work:
        device = sweep.devices[cell.device]
        path = os.path.join(result["export"]["dir"], result["export"]["file"])
        recorder.record(cell, result, bench_work(device, path, cell.threads, *bench_args))
    for q in remote_queues.values():
        q.put(_STOP)
    for t in threads:
        t.join()
    return summary

"""What a sweep run shares between engines: the pending cells grouped by export, the recorder
(results store + progress + counts, safe across threads) and the run's summary."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from edgekit.sweep.cache import export_key
from edgekit.sweep.work import make_record


@dataclass
class Summary:
    cells: int = 0  # in the grid
    already_done: int = 0  # skipped: recorded by an earlier run
    ok: int = 0
    failed: int = 0
    exports_fresh: int = 0
    exports_cached: int = 0
    failures: list[dict] = field(default_factory=list)  # {key, stage, error}
    run: str = ""

    def to_dict(self) -> dict:
        return dict(vars(self))

    def lines(self) -> list[str]:
        out = [f"{self.cells} cells: {self.already_done} already done, {self.ok} ok, {self.failed} failed in this run; "
               f"exports: {self.exports_fresh} new, {self.exports_cached} from the cache"]
        out += [f"  failed {f['key']} ({f['stage']}): {f['error']}" for f in self.failures]
        return out


def pending(sweep, store) -> tuple[dict, dict, Summary]:
    """({ExportSpec: [cells not yet recorded]}, {ExportSpec: cache key}, a fresh Summary)."""
    cells = sweep.cells()
    summary = Summary(cells=len(cells), run=uuid.uuid4().hex[:12])
    groups: dict = {}
    for c in cells:
        if c.key in store.done:
            summary.already_done += 1
        else:
            groups.setdefault(c.export, []).append(c)
    return groups, {spec: export_key(spec, sweep) for spec in groups}, summary


class Recorder:
    """Writes records (one thread at a time) and keeps the summary and the progress bar current."""

    def __init__(self, store, summary: Summary, progress=None):
        self.store, self.summary, self.progress = store, summary, progress
        self._lock = threading.Lock()

    def export_done(self, result: dict) -> None:
        info = result.get("export")
        if info is not None:
            with self._lock:
                if info.get("fresh"):
                    self.summary.exports_fresh += 1
                else:
                    self.summary.exports_cached += 1

    def record(self, cell, export: dict, bench: dict | None, extra: dict | None = None) -> None:
        rec = make_record(cell, export, bench, self.summary.run, extra)
        with self._lock:
            if not self.store.append(rec):
                return
            if rec["status"] == "ok":
                self.summary.ok += 1
            else:
                self.summary.failed += 1
                self.summary.failures.append({"key": rec["key"], "stage": rec["stage"], "error": rec["error"]})
            if self.progress is not None:
                self.progress(rec)


def plan(sweep, store_done: set[str], cache_root) -> dict:
    """What a run will cost: cells (and how many are done), exports (and how many are cached), and
    timing per device: device-seconds with [bench] seconds (the time spent timing; loading and
    warm-up come on top), else the number of timed runs (their seconds depend on the latency)."""
    from edgekit.sweep.cache import ExportCache

    cells = sweep.cells()
    todo = [c for c in cells if c.key not in store_done]
    cache = ExportCache(cache_root)
    exports = sweep.exports(cells)
    cached = sum(1 for s in exports if cache.get(s, export_key(s, sweep)) is not None)
    per_device = {}
    for name in sweep.devices:
        mine = [c for c in todo if c.device == name]
        secs = len(mine) * sweep.seconds if sweep.seconds is not None else None
        per_device[name] = {"cells": len(mine), "timed_runs": None if sweep.seconds else len(mine) * sweep.runs,
                            "device_seconds": secs}
    return {"cells": len(cells), "cells_done": len(cells) - len(todo), "exports": len(exports),
            "exports_cached": cached, "devices": per_device, "skipped": sweep.skipped,
            "grid": {"models": [m.name for m in sweep.models], "input_sizes": sweep.input_sizes,
                     "targets": sweep.targets, "precisions": sweep.precisions, "threads": sweep.threads,
                     "devices": list(sweep.devices)}}

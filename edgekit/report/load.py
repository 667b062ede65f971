"""Read the JSON that edgekit commands write and pick out bench and profile records.

Accepted: `edgekit bench --json` (a list of bench dicts), `edgekit profile --json` (a profile
dict or a list), `edgekit check --json` (its "bench" list), or any list/dict nesting of those.
Records are recognised by their "kind"; other content is ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError


@dataclass
class Results:
    sources: list[str] = field(default_factory=list)
    bench: list[dict] = field(default_factory=list)
    profiles: list[dict] = field(default_factory=list)


def _walk(doc, out: Results) -> None:
    if isinstance(doc, list):
        for item in doc:
            _walk(item, out)
    elif isinstance(doc, dict):
        kind = doc.get("kind")
        if kind == "bench" and isinstance(doc.get("latency_ms"), dict):
            out.bench.append(doc)
            if doc.get("ops"):  # benchmark_model's own per-op summary (adb with op profiling)
                out.profiles.append(_profile_from_bench(doc))
        elif kind == "profile" and isinstance(doc.get("ops"), list):
            out.profiles.append(doc)
        else:
            for key in ("bench", "results", "profiles"):
                if isinstance(doc.get(key), list):
                    _walk(doc[key], out)


def _profile_from_bench(doc: dict) -> dict:
    total = sum(o.get("ms", 0.0) for o in doc["ops"])
    return {"kind": "profile", "file": doc.get("file"), "name": doc.get("name"), "runtime": doc.get("runtime"),
            "where": doc.get("where"), "op_total_ms": total, "latency_ms": doc.get("latency_ms"),
            "ops": [{"op": o["op"], "nodes": o.get("count"), "ms": o["ms"],
                     "pct": 100.0 * o["ms"] / total if total else None} for o in doc["ops"]]}


def load_results(paths) -> Results:
    """Bench and profile records from `paths`; one-line EdgekitError for a missing or unreadable
    file, and when nothing usable was found."""
    out = Results()
    if not paths:
        raise EdgekitError("no results given: pass the JSON files written by edgekit bench/profile/check --json")
    for p in map(Path, paths):
        if not p.is_file():
            raise EdgekitError(f"results file not found: {p}")
        try:
            doc = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise EdgekitError(f"{p} is not JSON ({exc.msg} at line {exc.lineno}); pass what "
                               f"`edgekit bench --json` wrote") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise EdgekitError(f"cannot read {p}: {exc}") from None
        before = len(out.bench) + len(out.profiles)
        _walk(doc, out)
        if len(out.bench) + len(out.profiles) == before:
            raise EdgekitError(f"{p} holds no bench or profile results (expected the JSON of "
                               f"`edgekit bench --json`, `edgekit profile --json` or `edgekit check --json`)")
        out.sources.append(str(p))
    return out

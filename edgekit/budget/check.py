"""Check every limit of a budget: measure what is needed once, compare, and say what failed.

`check_budget(budget)` returns a CheckReport: one Outcome per artifact × limit (value, limit,
pass/fail, a short detail), plus the bench dicts of the artifacts it timed. Values that cannot be
found (no MAdds counter for a format, no accuracy anywhere) raise EdgekitError: a budget whose
limit cannot be measured is a broken budget (exit 2), not a pass.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgekit.artifact import read_sidecar
from edgekit.budget.schema import ArtifactBudget, Budget
from edgekit.errors import EdgekitError

UNITS = {"max_size_kb": "KiB", "max_madds": "MAdds", "max_latency_ms": "ms", "max_latency_ratio": "x",
         "max_partitions": "partitions", "min_accuracy": "% top-1", "max_int8_drop": "pts"}


@dataclass
class Outcome:
    artifact: str
    file: str
    check: str
    limit: float
    value: float
    unit: str
    passed: bool
    detail: str = ""


@dataclass
class CheckReport:
    budget: str
    outcomes: list[Outcome] = field(default_factory=list)
    bench: dict = field(default_factory=dict)  # artifact name → bench dict of this run

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def to_dict(self) -> dict:
        return {"kind": "check", "schema": 1, "budget": self.budget, "passed": self.passed,
                "failed": sum(not o.passed for o in self.outcomes), "checks": len(self.outcomes),
                "outcomes": [asdict(o) for o in self.outcomes], "bench": list(self.bench.values())}


def artifact_size_bytes(path: Path) -> int:
    from edgekit.runtimes.bench import artifact_files

    return sum(f.stat().st_size for f in artifact_files(path) if f.is_file())


def artifact_madds(a: ArtifactBudget) -> tuple[int, str]:
    meta = read_sidecar(a.file)
    total = (meta.get("madds") or {}).get("total_madds")
    if total:
        return int(total), "sidecar total_madds"
    from edgekit.runtimes.bench import graph_madds

    counted = graph_madds(a.file)
    if counted:
        return int(counted), "counted in the graph"
    raise EdgekitError(f"cannot tell the MAdds of {a.name} ({a.file.name}): it has no sidecar and its graph "
                       f"could not be counted; drop max_madds or export it with edgekit")


def xnnpack_partitions(a: ArtifactBudget, threads: int) -> tuple[int, str]:
    try:
        from edgekit.analysis.census_tflite import census
    except ImportError:
        census = None
    if census is not None:
        try:
            return int(census(a.file, threads)["delegate"]["partitions"]), "measured (LiteRT + XNNPACK)"
        except ImportError:
            pass
    side = (read_sidecar(a.file).get("census") or {}).get("delegate") or {}
    if side.get("partitions") is not None:
        return int(side["partitions"]), "from the sidecar census"
    raise EdgekitError(f"cannot count XNNPACK partitions of {a.name}: LiteRT is not installed and the sidecar has "
                       f"no census; pip install 'edgekit[litert]'")


def _top1_from(doc, file: Path):
    """top-1 (percent) for `file` from an eval JSON document, or None."""
    if isinstance(doc, dict):
        if isinstance(doc.get("top1"), (int, float)):
            return float(doc["top1"])
        acc = doc.get("accuracy")
        if isinstance(acc, dict) and isinstance(acc.get("top1"), (int, float)):
            return float(acc["top1"])
        for key in ("results", "evals", "files"):
            if isinstance(doc.get(key), list):
                return _top1_from(doc[key], file)
        return None
    if isinstance(doc, list):
        entries = [d for d in doc if isinstance(d, dict)]
        named = [d for d in entries if d.get("file") and Path(str(d["file"])).name == file.name]
        pick = named or (entries if len(entries) == 1 else [])
        return _top1_from(pick[0], file) if pick else None
    return None


def artifact_top1(a: ArtifactBudget) -> tuple[float, str]:
    """Top-1 from the `eval` JSON given in the budget, else from the sidecar; else an input error."""
    if a.eval is not None:
        try:
            doc = json.loads(a.eval.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise EdgekitError(f"cannot read {a.eval} (eval of {a.name}): {exc}") from None
        top1 = _top1_from(doc, a.file)
        if top1 is None:
            raise EdgekitError(f"{a.eval} holds no top1 for {a.file.name}: expected `edgekit eval --json` output")
        return top1, f"from {a.eval.name}"
    meta = read_sidecar(a.file)
    for key in ("accuracy", "eval"):
        section = meta.get(key)
        if isinstance(section, dict) and isinstance(section.get("top1"), (int, float)):
            return float(section["top1"]), "from the sidecar"
    raise EdgekitError(f"no accuracy for {a.name} ({a.file.name}): set eval = \"<file>\" in [artifacts.{a.name}] "
                       f"(the output of `edgekit eval {a.file.name} --data DIR --json`) or drop the accuracy limit")


def _ms(x: float) -> str:
    return f"{x:.3f} ms" if x < 10 else f"{x:.2f} ms"


def check_budget(budget: Budget, progress=None) -> CheckReport:
    report = CheckReport(str(budget.path))
    s = budget.settings
    timed = budget.needs_latency()
    if timed:
        from edgekit.budget.measure import interleaved_latency

        arts = budget.artifacts
        report.bench = interleaved_latency([(n, arts[n].file, arts[n].runtime, arts[n].threads) for n in timed],
                                           s.threads, s.warmup, s.runs, progress=progress)
    top1_cache: dict[str, tuple[float, str]] = {}

    def top1(name: str) -> tuple[float, str]:
        if name not in top1_cache:
            top1_cache[name] = artifact_top1(budget.artifacts[name])
        return top1_cache[name]

    for a in budget.artifacts.values():
        for key, limit in a.limits.items():
            detail = ""
            if key == "max_size_kb":
                value = artifact_size_bytes(a.file) / 1024
            elif key == "max_madds":
                value, detail = artifact_madds(a)
            elif key == "max_latency_ms":
                b = report.bench[a.name]
                value = b["latency_ms"]["median"]
                detail = f"median of {b['runs']} runs on {b['runtime']}, {b['threads']} thread(s), interleaved"
            elif key == "max_latency_ratio":
                mine, ref = report.bench[a.name]["latency_ms"]["median"], report.bench[a.reference]["latency_ms"]["median"]
                value = mine / ref
                detail = f"{_ms(mine)} vs {a.reference} {_ms(ref)}, same run"
            elif key == "max_partitions":
                value, detail = xnnpack_partitions(a, a.threads)
            elif key == "min_accuracy":
                value, detail = top1(a.name)
            elif key == "max_int8_drop":
                mine, src = top1(a.name)
                base, _ = top1(a.baseline)
                value = base - mine
                detail = f"{a.baseline} {base:.2f}% → {mine:.2f}% ({src})"
            else:  # pragma: no cover - schema.LIMITS and this list are kept together
                raise AssertionError(key)
            passed = value >= limit if key == "min_accuracy" else value <= limit
            report.outcomes.append(Outcome(a.name, str(a.file), key, limit, value, UNITS[key], passed, detail))
    return report

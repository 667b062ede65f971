"""The budget file (TOML): what each artifact may cost, validated before anything is measured.

    [settings]                  # optional; how latency is measured
    threads = 1                 # intra-op threads
    warmup = 10                 # untimed runs per artifact
    runs = 100                  # timed runs per artifact, interleaved across artifacts in blocks
    runtime = "auto"            # auto | onnxruntime | litert | openvino

    [artifacts.m0]              # one table per artifact; the name is used in reports and JUnit
    file = "out/micronet-m0.tflite"   # relative to the budget file
    runtime = "litert"          # optional, overrides settings.runtime
    threads = 2                 # optional, overrides settings.threads (e.g. the device's cores)
    max_size_kb = 4200          # all files of the artifact (.xml + .bin), KiB
    max_madds = 4_500_000       # sidecar total_madds, else counted in the graph
    max_latency_ms = 5.0        # median on this machine
    max_latency_ratio = 0.7     # median / the reference's median, both timed in this run
    reference = "m0-stock"      # another artifact of this file (needed by max_latency_ratio)
    max_partitions = 1          # XNNPACK partitions of a .tflite, as the runtime applies them
    min_accuracy = 45.0         # top-1 in percent
    max_int8_drop = 0.5         # baseline top-1 minus this top-1, in percentage points
    baseline = "m0-fp32"        # the artifact whose accuracy max_int8_drop compares against
    eval = "out/m0.eval.json"   # `edgekit eval --json` output holding this artifact's top-1

Unknown keys, wrong types, missing files and dangling names are input errors (exit 2) whose
one-line message names the file, the line and the key. Accuracy is read from `eval`, else from
the artifact's sidecar (`accuracy.top1` / `eval.top1`); a limit whose value cannot be found is an
input error too, never a silent pass.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - requires-python allows 3.10, which has no tomllib
    tomllib = None

RUNTIMES = ("auto", "onnxruntime", "litert", "openvino")

# key → (accepted types, description used in messages)
_NUMBER = (int, float)
SETTINGS_KEYS = {
    "threads": (int, "an integer >= 1"),
    "warmup": (int, "an integer >= 0"),
    "runs": (int, "an integer >= 1"),
    "runtime": (str, f"one of {', '.join(RUNTIMES)}"),
}
ARTIFACT_KEYS = {
    "file": (str, "a path to the artifact"),
    "runtime": (str, f"one of {', '.join(RUNTIMES)}"),
    "threads": (int, "an integer >= 1"),
    "max_size_kb": (_NUMBER, "a number > 0 (KiB)"),
    "max_madds": (_NUMBER, "a number > 0"),
    "max_latency_ms": (_NUMBER, "a number > 0 (milliseconds)"),
    "max_latency_ratio": (_NUMBER, "a number > 0"),
    "reference": (str, "the name of another artifact in this file"),
    "max_partitions": (int, "an integer >= 1"),
    "min_accuracy": (_NUMBER, "a top-1 percentage in 0-100"),
    "max_int8_drop": (_NUMBER, "a number of percentage points >= 0"),
    "baseline": (str, "the name of another artifact in this file"),
    "eval": (str, "a path to `edgekit eval --json` output"),
}
LIMITS = ("max_size_kb", "max_madds", "max_latency_ms", "max_latency_ratio", "max_partitions", "min_accuracy",
          "max_int8_drop")


@dataclass
class Settings:
    threads: int = 1
    warmup: int = 10
    runs: int = 100
    runtime: str = "auto"


@dataclass
class ArtifactBudget:
    name: str
    file: Path
    runtime: str
    limits: dict = field(default_factory=dict)  # limit key → value, in LIMITS order
    threads: int = 1  # intra-op threads it is timed (and its partitions counted) with
    reference: str | None = None
    baseline: str | None = None
    eval: Path | None = None


@dataclass
class Budget:
    path: Path
    settings: Settings
    artifacts: dict[str, ArtifactBudget]

    def needs_latency(self) -> list[str]:
        """Artifacts to time (those with a latency limit, and their references), in file order."""
        names = []
        for a in self.artifacts.values():
            if "max_latency_ms" in a.limits or "max_latency_ratio" in a.limits:
                names.append(a.name)
                if a.reference:
                    names.append(a.reference)
        return [n for n in self.artifacts if n in set(names)]


class _Where:
    """Finds the line of a table or key in the TOML text, for error messages."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def _table_line(self, table: str) -> int | None:
        parts = table.split(".")
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(rf"(?:{re.escape(p)}|\"{re.escape(p)}\")" for p in parts)
                             + r"\s*\]")
        return next((i for i, l in enumerate(self.lines) if pattern.match(l)), None)

    def line(self, table: str | None, key: str | None = None) -> int | None:
        if table is None and key is not None:  # a top-level key: `key = ...` or a `[key...]` header
            top = re.compile(rf"^\s*(?:\[\[?\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*[.\]]|"
                             rf"(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=)")
            return next((i + 1 for i, l in enumerate(self.lines) if top.match(l)), None)
        start = self._table_line(table) if table else 0
        if start is None:
            start = 0
        if key is None:
            return start + 1 if table else None
        key_re = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
        for i in range(start + (1 if table else 0), len(self.lines)):
            if table and i > start and self.lines[i].lstrip().startswith("[") and not key_re.match(self.lines[i]):
                break
            if key_re.match(self.lines[i]):
                return i + 1
        return start + 1 if table else None

    def error(self, message: str, table: str | None = None, key: str | None = None) -> EdgekitError:
        n = self.line(table, key)
        return EdgekitError(f"{self.path}:{n}: {message}" if n else f"{self.path}: {message}")


def _check_type(where: _Where, table: str, key: str, value, spec) -> None:
    types, desc = spec
    ok = isinstance(value, types) and not isinstance(value, bool)
    if ok and key in ("threads", "runs", "max_partitions"):
        ok = value >= 1
    elif ok and key == "warmup":
        ok = value >= 0
    elif ok and key == "runtime":
        ok = value in RUNTIMES
    elif ok and key in ("max_size_kb", "max_madds", "max_latency_ms", "max_latency_ratio"):
        ok = value > 0
    elif ok and key == "min_accuracy":
        ok = 0 <= value <= 100
    elif ok and key == "max_int8_drop":
        ok = value >= 0
    if not ok:
        raise where.error(f"[{table}] {key} = {value!r}: expected {desc}", table, key)


def read_toml(path: Path, what: str, command: str) -> tuple[dict, _Where]:
    """(the parsed TOML file, its line finder for messages); one-line EdgekitError when the file is
    missing or not TOML. `what` names the file ("budget"), `command` the command needing tomllib."""
    if tomllib is None:
        raise EdgekitError(f"edgekit {command} needs Python >= 3.11 (tomllib)")
    if not path.is_file():
        raise EdgekitError(f"{what} file not found: {path}")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EdgekitError(f"{path}: not valid TOML: {exc}") from None
    return data, _Where(path, text)


def load_budget(path) -> Budget:
    """Parse and validate a budget file; EdgekitError (exit 2, one line) on any problem."""
    path = Path(path)
    data, where = read_toml(path, "budget", "check")
    base = path.parent

    for key in data:
        if key not in ("settings", "artifacts"):
            raise where.error(f"unknown top-level key {key!r}{did_you_mean(key, ('settings', 'artifacts'))}; "
                              f"expected [settings] and [artifacts.NAME] tables", None, key)

    raw_settings = data.get("settings", {})
    if not isinstance(raw_settings, dict):
        raise where.error("settings must be a table: [settings]", None, "settings")
    for key, value in raw_settings.items():
        if key not in SETTINGS_KEYS:
            raise where.error(f"unknown key {key!r} in [settings]{did_you_mean(key, SETTINGS_KEYS, 1)}; "
                              f"known: {', '.join(SETTINGS_KEYS)}", "settings", key)
        _check_type(where, "settings", key, value, SETTINGS_KEYS[key])
    settings = Settings(**raw_settings)

    raw_artifacts = data.get("artifacts")
    if not isinstance(raw_artifacts, dict) or not raw_artifacts:
        raise where.error("no artifacts: add at least one [artifacts.NAME] table with file = \"...\"")
    artifacts: dict[str, ArtifactBudget] = {}
    for name, table in raw_artifacts.items():
        tname = f"artifacts.{name}"
        if not isinstance(table, dict):
            raise where.error(f"artifacts.{name} must be a table: [artifacts.{name}]", None, name)
        for key, value in table.items():
            if key not in ARTIFACT_KEYS:
                raise where.error(f"unknown key {key!r} in [{tname}]{did_you_mean(key, ARTIFACT_KEYS, 1)}; "
                                  f"known: {', '.join(ARTIFACT_KEYS)}", tname, key)
            _check_type(where, tname, key, value, ARTIFACT_KEYS[key])
        if "file" not in table:
            raise where.error(f"[{tname}] has no file = \"...\"", tname)
        file = (base / table["file"]).resolve() if not Path(table["file"]).is_absolute() else Path(table["file"])
        if not file.is_file():
            raise where.error(f"[{tname}] file {table['file']!r} not found (looked for {file})", tname, "file")
        eval_path = None
        if "eval" in table:
            eval_path = (base / table["eval"]) if not Path(table["eval"]).is_absolute() else Path(table["eval"])
            if not eval_path.is_file():
                raise where.error(f"[{tname}] eval {table['eval']!r} not found (looked for {eval_path})", tname, "eval")
        if not any(k in table for k in LIMITS) and name not in _referenced(raw_artifacts):
            raise where.error(f"[{tname}] sets no limit (one of {', '.join(LIMITS)}) and no other artifact "
                              f"uses it as reference or baseline", tname)
        if file.suffix.lower() != ".tflite" and "max_partitions" in table:
            raise where.error(f"[{tname}] max_partitions counts XNNPACK partitions, which only .tflite artifacts "
                              f"have ({file.name})", tname, "max_partitions")
        artifacts[name] = ArtifactBudget(
            name=name, file=file, runtime=table.get("runtime", settings.runtime),
            threads=table.get("threads", settings.threads),
            limits={k: table[k] for k in LIMITS if k in table},
            reference=table.get("reference"), baseline=table.get("baseline"), eval=eval_path)

    for a in artifacts.values():
        tname = f"artifacts.{a.name}"
        for link, needs in (("reference", "max_latency_ratio"), ("baseline", "max_int8_drop")):
            target = getattr(a, link)
            if needs in a.limits and target is None:
                raise where.error(f"[{tname}] {needs} needs {link} = \"<artifact name>\"", tname, needs)
            if target is not None and needs not in a.limits:
                raise where.error(f"[{tname}] {link} is only used by {needs}, which is not set", tname, link)
            if target is not None and target not in artifacts:
                raise where.error(f"[{tname}] {link} = {target!r} is not an artifact in this file"
                                  f"{did_you_mean(target, artifacts)}", tname, link)
            if target == a.name:
                raise where.error(f"[{tname}] {link} cannot be the artifact itself", tname, link)
    return Budget(path, settings, artifacts)


def _referenced(raw_artifacts: dict) -> set:
    return {t.get(k) for t in raw_artifacts.values() if isinstance(t, dict) for k in ("reference", "baseline")}

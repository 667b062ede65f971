"""The sweep file (TOML): the grid of models × input sizes × targets × precisions × threads × devices.

    [grid]
    models = ["micronet-m0", "micronet-m1"]  # zoo names, file.py:factory, or names of [models.X] tables
    input_sizes = [160, 224]
    targets = ["tflite", "onnx"]             # onnx | tflite | openvino
    precisions = ["fp32", "int8"]            # fp32 | fp16 | int8 (int8 needs [int8] calib)
    threads = [1, 4]
    devices = ["pi"]                         # names of [devices.X]; default: all of them

    [models.digits]                          # optional: a model with its own weights or classes
    source = "micronet-m0"                   # zoo name or file.py:factory (default: the table's name)
    weights = "digits.pth"                   # relative to the sweep file
    num_classes = 10

    [models.grounding]                       # a model with several named inputs: no input-size axis (its own)
    source = "grounding.py:build"
    inputs = ["video=64,32", "tokens=12:int64"]   # as export --input; zoo cards with inputs bring theirs

    [int8]                                   # calibration of the int8 cells
    calib = "calib/"                         # image folder, .npy/.npz, or "synthetic"
    calib_method = "minmax"                  # minmax | percentile | entropy
    calib_size = 128

    [eval]                                   # optional: measure top-1 of every export
    data = "val/"                            # image folder with class sub-folders, or .npz with x and y
    size = 500                               # samples (default: all)

    [bench]
    runs = 100                               # timed runs per cell (or seconds = 5.0)
    warmup = 10

    [export]
    verify = true                            # the rewrite's equivalence check (float64)
    parity_samples = 8

    [devices.pi]                             # kind: local | ssh | adb
    kind = "ssh"
    address = "pi@raspberrypi.local"
    key = "~/.ssh/id_ed25519"

Without [devices.*] tables the one device is "local". A cell is (model, size, target, precision,
device, threads); adb devices run TFLite's benchmark_model, so only tflite cells go there. Errors
name the file, line and key (the budget file's TOML line finder, `budget.schema._Where`).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.budget.schema import _Where, read_toml
from edgekit.errors import did_you_mean

TARGETS = ("onnx", "tflite", "openvino")
PRECISIONS = ("fp32", "fp16", "int8")
CALIB_METHODS = ("minmax", "percentile", "entropy")
DEVICE_KINDS = ("local", "ssh", "adb")

_INT, _NUM, _STR, _BOOL, _LIST = int, (int, float), str, bool, list
# table → key → (type, description)
SCHEMA = {
    "grid": {"models": (_LIST, "a list of model names"), "input_sizes": (_LIST, "a list of integers >= 8"),
             "targets": (_LIST, f"a list of {', '.join(TARGETS)}"),
             "precisions": (_LIST, f"a list of {', '.join(PRECISIONS)}"),
             "threads": (_LIST, "a list of integers >= 1"), "devices": (_LIST, "a list of [devices.X] names")},
    "int8": {"calib": (_STR, "an image folder, a .npy/.npz file, or \"synthetic\""),
             "calib_method": (_STR, f"one of {', '.join(CALIB_METHODS)}"),
             "calib_size": (_INT, "an integer >= 1")},
    "eval": {"data": (_STR, "an image folder or a .npz with x and y"), "size": (_INT, "an integer >= 1")},
    "bench": {"runs": (_INT, "an integer >= 1"), "warmup": (_INT, "an integer >= 0"),
              "seconds": (_NUM, "a number of seconds > 0")},
    "export": {"verify": (_BOOL, "true or false"), "parity_samples": (_INT, "an integer >= 0"),
               "opset": (_INT, "an integer >= 17")},
}
MODEL_KEYS = {"source": (_STR, "a zoo name or file.py:factory"), "weights": (_STR, "a checkpoint path"),
              "num_classes": (_INT, "an integer >= 1"),
              "inputs": (_LIST, 'a list of "NAME=SHAPE[:DTYPE]" strings, e.g. ["video=64,32", "tokens=12:int64"]')}
DEVICE_KEYS = {"kind": (_STR, f"one of {', '.join(DEVICE_KINDS)}"), "address": (_STR, "user@host[:port]"),
               "key": (_STR, "an ssh private key path"), "serial": (_STR, "an adb serial"),
               "benchmark_model": (_STR, "the path of benchmark_model on the device")}


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the label in results (grid entry)
    source: str  # zoo name or absolute file.py:factory
    weights: str | None = None  # absolute path
    num_classes: int | None = None
    inputs: tuple[str, ...] = ()  # "NAME=SHAPE[:DTYPE]" per input (export --input); () = one image input
    fixed_inputs: bool = False  # several named inputs (declared here or by the zoo card): no input-size axis


@dataclass(frozen=True)
class Device:
    name: str
    kind: str = "local"
    address: str | None = None
    key: str | None = None
    serial: str | None = None
    benchmark_model: str | None = None

    @property
    def resource(self) -> str:
        """The Ray custom resource that marks the node holding this device."""
        return f"device:{self.name}"


@dataclass(frozen=True)
class ExportSpec:
    """What one export depends on (with the cache's content hashes, its cache key)."""
    model: ModelSpec
    input_size: int | None  # None: the model's declared inputs (several named inputs)
    target: str
    precision: str

    @property
    def label(self) -> str:
        size = "inputs as declared" if self.input_size is None else f"{self.input_size}px"
        return f"{self.model.name} {size} {self.target} {self.precision}"


@dataclass(frozen=True)
class Cell:
    export: ExportSpec
    device: str
    threads: int

    @property
    def key(self) -> str:
        e = self.export
        return f"{e.model.name}|{e.input_size}|{e.target}|{e.precision}|{self.device}|t{self.threads}"

    def to_dict(self) -> dict:
        e = self.export
        return {"model": e.model.name, "source": e.model.source, "weights": e.model.weights,
                "input_size": e.input_size, "target": e.target, "precision": e.precision, "device": self.device,
                "threads": self.threads}


@dataclass
class Sweep:
    path: Path
    models: list[ModelSpec]
    input_sizes: list[int]
    targets: list[str]
    precisions: list[str]
    threads: list[int]
    devices: dict[str, Device]
    calib: str | None = None
    calib_method: str = "minmax"
    calib_size: int | None = None
    eval_data: str | None = None
    eval_size: int | None = None
    runs: int = 100
    warmup: int = 10
    seconds: float | None = None
    verify: bool = True
    parity_samples: int = 8
    opset: int = 18
    skipped: list[str] = field(default_factory=list)  # combinations that are not cells, and why

    def cells(self) -> list[Cell]:
        out = []
        for m in self.models:  # a model with several named inputs has one size: its own (input_sizes skip it)
            for size, target, prec in itertools.product([None] if m.fixed_inputs else self.input_sizes,
                                                        self.targets, self.precisions):
                out += self._cells(ExportSpec(m, size, target, prec))
        return out

    def _cells(self, spec: ExportSpec) -> list[Cell]:
        """The export's cells: one per device and thread count (adb devices take .tflite only)."""
        return [Cell(spec, dev.name, threads) for dev, threads in itertools.product(self.devices.values(), self.threads)
                if dev.kind != "adb" or spec.target == "tflite"]

    def exports(self, cells=None) -> list[ExportSpec]:
        seen: dict[ExportSpec, None] = {}
        for c in cells if cells is not None else self.cells():
            seen.setdefault(c.export, None)
        return list(seen)

    def fingerprint(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


def _check(where: _Where, table: str | None, key: str, value, spec) -> None:
    types, desc = spec
    ok = isinstance(value, types) and (types is bool or not isinstance(value, bool))
    if ok and types is _LIST:
        ok = len(value) > 0
    if ok and key in ("calib_size", "size", "runs", "num_classes"):
        ok = value >= 1
    elif ok and key in ("warmup", "parity_samples"):
        ok = value >= 0
    elif ok and key == "seconds":
        ok = value > 0
    elif ok and key == "opset":
        ok = value >= 17
    elif ok and key == "calib_method":
        ok = value in CALIB_METHODS
    elif ok and key == "kind":
        ok = value in DEVICE_KINDS
    if not ok:
        raise where.error(f"[{table}] {key} = {value!r}: expected {desc}" if table else
                          f"{key} = {value!r}: expected {desc}", table, key)


def _check_items(where, key, values, allowed=None, kind=str, minimum=None):
    for v in values:
        if not isinstance(v, kind) or isinstance(v, bool):
            raise where.error(f"[grid] {key}: {v!r} is not a{'n integer' if kind is int else ' string'}", "grid", key)
        if allowed is not None and v not in allowed:
            raise where.error(f"[grid] {key}: unknown {v!r}{did_you_mean(v, allowed)}; choose from "
                              f"{', '.join(allowed)}", "grid", key)
        if minimum is not None and v < minimum:
            raise where.error(f"[grid] {key}: {v} is less than {minimum}", "grid", key)
    if len(set(values)) != len(values):
        raise where.error(f"[grid] {key} lists an entry twice", "grid", key)


def _path(base: Path, text: str) -> str:
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _source(base: Path, source: str) -> str:
    """A file.py:factory relative to the sweep file becomes absolute; zoo names stay as they are."""
    target, sep, factory = source.rpartition(":")
    if sep and target.endswith(".py"):
        return f"{_path(base, target)}:{factory}"
    return source


def load_sweep(path) -> Sweep:
    """Parse and validate a sweep file; EdgekitError (one line naming file, line and key) on a problem."""
    path = Path(path)
    data, where = read_toml(path, "sweep", "sweep")
    base = path.parent.resolve()
    known = (*SCHEMA, "models", "devices")
    for key, value in data.items():
        if key not in known:
            raise where.error(f"unknown table {key!r}{did_you_mean(key, known)}; known: {', '.join(known)}", None, key)
        if not isinstance(value, dict):
            raise where.error(f"{key} must be a table: [{key}]", None, key)
    for table, keys in SCHEMA.items():
        for key, value in data.get(table, {}).items():
            if key not in keys:
                raise where.error(f"unknown key {key!r} in [{table}]{did_you_mean(key, keys, 1)}; known: "
                                  f"{', '.join(keys)}", table, key)
            _check(where, table, key, value, keys[key])
    grid = data.get("grid")
    if not grid:
        raise where.error("no [grid] table: give at least models, input_sizes, targets and precisions")
    for key in ("models", "input_sizes", "targets", "precisions"):
        if key not in grid:
            raise where.error(f"[grid] has no {key} = [...]", "grid")
    _check_items(where, "models", grid["models"])
    _check_items(where, "input_sizes", grid["input_sizes"], kind=int, minimum=8)
    _check_items(where, "targets", grid["targets"], allowed=TARGETS)
    _check_items(where, "precisions", grid["precisions"], allowed=PRECISIONS)
    threads = grid.get("threads", [1])
    _check_items(where, "threads", threads, kind=int, minimum=1)

    tables = data.get("models", {})
    for name, table in tables.items():
        tname = f"models.{name}"
        if not isinstance(table, dict):
            raise where.error(f"models.{name} must be a table: [models.{name}]", None, "models")
        for key, value in table.items():
            if key not in MODEL_KEYS:
                raise where.error(f"unknown key {key!r} in [{tname}]{did_you_mean(key, MODEL_KEYS, 1)}; known: "
                                  f"{', '.join(MODEL_KEYS)}", tname, key)
            _check(where, tname, key, value, MODEL_KEYS[key])
        if "weights" in table and not Path(_path(base, table["weights"])).is_file():
            raise where.error(f"[{tname}] weights {table['weights']!r} not found", tname, "weights")
        if name not in grid["models"]:
            raise where.error(f"[{tname}] is not used: add {name!r} to [grid] models", tname)
    models = []
    for name in grid["models"]:
        t = tables.get(name, {})
        inputs = tuple(t.get("inputs", ()))
        for item in inputs:
            _check_input(where, f"models.{name}", item)
        source = _source(base, t.get("source", name))
        models.append(ModelSpec(name=name, source=source, weights=_path(base, t["weights"]) if "weights" in t else None,
                                num_classes=t.get("num_classes"), inputs=inputs,
                                fixed_inputs=bool(inputs) or _declares_inputs(source)))

    devices: dict[str, Device] = {}
    for name, table in data.get("devices", {}).items():
        tname = f"devices.{name}"
        if not isinstance(table, dict):
            raise where.error(f"devices.{name} must be a table: [devices.{name}]", None, "devices")
        for key, value in table.items():
            if key not in DEVICE_KEYS:
                raise where.error(f"unknown key {key!r} in [{tname}]{did_you_mean(key, DEVICE_KEYS, 1)}; known: "
                                  f"{', '.join(DEVICE_KEYS)}", tname, key)
            _check(where, tname, key, value, DEVICE_KEYS[key])
        kind = table.get("kind", "local")
        if kind == "ssh" and "address" not in table:
            raise where.error(f"[{tname}] kind = \"ssh\" needs address = \"user@host[:port]\"", tname, "kind")
        allowed = {"local": {"kind"}, "ssh": {"kind", "address", "key"},
                   "adb": {"kind", "serial", "benchmark_model"}}[kind]
        for key in table:
            if key not in allowed:
                raise where.error(f"[{tname}] {key} does not apply to kind = \"{kind}\"", tname, key)
        devices[name] = Device(name, kind, table.get("address"),
                               _path(base, table["key"]) if "key" in table else None, table.get("serial"),
                               table.get("benchmark_model"))
    if not devices:
        devices = {"local": Device("local")}
    if "devices" in grid:
        _check_items(where, "devices", grid["devices"], allowed=tuple(devices))
        devices = {n: devices[n] for n in grid["devices"]}

    int8 = data.get("int8", {})
    if "int8" in grid["precisions"] and "calib" not in int8:
        raise where.error("[grid] precisions has int8: add [int8] calib = \"DIR|file.npz|synthetic\"", "grid",
                          "precisions")
    calib = int8.get("calib")
    if calib is not None and calib != "synthetic":
        calib = _path(base, calib)
        if not Path(calib).exists():
            raise where.error(f"[int8] calib {int8['calib']!r} not found (looked for {calib})", "int8", "calib")
    ev = data.get("eval", {})
    if ev and "data" not in ev:
        raise where.error("[eval] has no data = \"...\"", "eval")
    eval_data = _path(base, ev["data"]) if "data" in ev else None
    if eval_data is not None and not Path(eval_data).exists():
        raise where.error(f"[eval] data {ev['data']!r} not found (looked for {eval_data})", "eval", "data")
    bench = data.get("bench", {})
    if "runs" in bench and "seconds" in bench:
        raise where.error("[bench] give runs or seconds, not both", "bench", "seconds")
    export = data.get("export", {})
    sweep = Sweep(path=path, models=models, input_sizes=list(grid["input_sizes"]), targets=list(grid["targets"]),
                  precisions=list(grid["precisions"]), threads=list(threads), devices=devices, calib=calib,
                  calib_method=int8.get("calib_method", "minmax"), calib_size=int8.get("calib_size"),
                  eval_data=eval_data, eval_size=ev.get("size"), runs=bench.get("runs", 100),
                  warmup=bench.get("warmup", 10), seconds=bench.get("seconds"), verify=export.get("verify", True),
                  parity_samples=export.get("parity_samples", 8), opset=export.get("opset", 18))
    adb_only = [d.name for d in devices.values() if d.kind == "adb"]
    other = [t for t in sweep.targets if t != "tflite"]
    if adb_only and other:
        sweep.skipped.append(f"{', '.join(other)} on {', '.join(adb_only)}: adb devices run only .tflite")
    if not sweep.cells():
        raise where.error("the grid has no cells (adb devices take only tflite)", "grid")
    return sweep


def _check_input(where, table: str, item) -> None:
    from edgekit.errors import EdgekitError
    from edgekit.models.io_spec import parse_input_arg

    try:
        if not isinstance(item, str):
            raise EdgekitError(f"{item!r} is not a string")
        name, _, _ = parse_input_arg(item)
        if not name:
            raise EdgekitError(f"{item!r} has no NAME=")
    except EdgekitError as exc:
        raise where.error(f"[{table}] inputs: {exc} (give \"NAME=SHAPE[:DTYPE]\", e.g. \"tokens=12:int64\")",
                          table, "inputs") from None


def _declares_inputs(source: str) -> bool:
    """True for a zoo model whose card declares its named inputs (TCN, DTPN, MAN, MoBoNet: not image-sized)."""
    try:
        from edgekit.models.registry import get_card, is_registered

        return is_registered(source) and bool(get_card(source).inputs)
    except ImportError:  # a results-only machine (no torch): the sweep cannot export there anyway
        return False

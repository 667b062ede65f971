"""The IO spec: a model's named inputs and outputs, the one description every layer uses.

    io = IOSpec.single((3, 224, 224))                       # the classic image model: input -> logits
    io = IOSpec((InputSpec("image", (3, 64, 64)), InputSpec("flow", (2, 64, 64), kind="flow")),
                (OutputSpec("boundary", "dense"),))

Shapes are per sample (no batch dimension; exports are batch 1). Input kinds decide what sample
inputs look like (edgekit.analysis.sample_inputs) and whether an input is normalised or quantized:
integer inputs (token ids) are neither. Output kinds say what an output means (logits, scores,
boxes, a dense map, a sequence) for parity and task metrics. Pure data: no torch import.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from edgekit.errors import EdgekitError

INPUT_KINDS = ("image", "clip", "flow", "sequence", "tokens", "mask", "tensor")
OUTPUT_KINDS = ("logits", "scores", "boxes", "dense", "sequence", "tensor")
DTYPES = ("float32", "int64", "int32")
MAX_DIM = 4096

# The names a classic one-input, one-output model keeps in every target (unchanged since the start).
SINGLE_INPUT_NAME = "input"
SINGLE_OUTPUT_NAME = "logits"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]  # per sample
    dtype: str = "float32"
    kind: str = "tensor"
    # value range: [low, high) for integer inputs (token ids in range); None for float inputs, which are
    # in the model's normalised space (what preprocessing from the card produces)
    range: tuple[float, float] | None = None
    layout: str = ""  # "CHW", "CTHW", "CT", "T", ... (informational; the shape is what counts)
    preprocessing: str = ""  # "card" (mean/std of the card), "none", or free text

    @property
    def is_integer(self) -> bool:
        return self.dtype.startswith("int")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        d["range"] = list(self.range) if self.range is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["shape"] = tuple(int(s) for s in kw.get("shape", ()))
        if kw.get("range") is not None:
            kw["range"] = tuple(kw["range"])
        return cls(**kw)


@dataclass(frozen=True)
class OutputSpec:
    name: str
    kind: str = "tensor"
    description: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OutputSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def kind_for_shape(shape: tuple[int, ...], dtype: str = "float32") -> str:
    """A sensible kind when none is declared: tokens for integers, image for C,H,W, clip for C,T,H,W."""
    if dtype.startswith("int"):
        return "tokens"
    return {3: "image", 4: "clip", 2: "sequence"}.get(len(shape), "tensor")


@dataclass(frozen=True)
class IOSpec:
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...] = ()  # empty: not known yet (filled by probing the model)

    @classmethod
    def single(cls, shape, output: str | None = SINGLE_OUTPUT_NAME) -> "IOSpec":
        shape = tuple(int(s) for s in shape)
        outputs = (OutputSpec(output, "logits"),) if output else ()
        return cls((InputSpec(SINGLE_INPUT_NAME, shape, "float32", kind_for_shape(shape)),), outputs)

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [s.name for s in self.outputs]

    @property
    def is_single(self) -> bool:
        """One float input and (at most) one output: the classic path every target has always taken."""
        return len(self.inputs) == 1 and not self.inputs[0].is_integer and len(self.outputs) <= 1

    def with_outputs(self, outputs) -> "IOSpec":
        return dataclasses.replace(self, outputs=tuple(outputs))

    def to_dict(self) -> dict:
        return {"inputs": [s.to_dict() for s in self.inputs], "outputs": [s.to_dict() for s in self.outputs]}

    @classmethod
    def from_dict(cls, d: dict) -> "IOSpec":
        return cls(tuple(InputSpec.from_dict(s) for s in d.get("inputs", [])),
                   tuple(OutputSpec.from_dict(s) for s in d.get("outputs", [])))


def as_io(spec) -> IOSpec:
    """An IOSpec from an IOSpec or a per-sample shape tuple (the one-input form every caller used)."""
    if isinstance(spec, IOSpec):
        return spec
    return IOSpec.single(spec)


# ------------------------------------------------------------------------------------ parsing

def parse_shape(text: str, what: str) -> tuple[int, ...]:
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or min(shape) <= 0 or max(shape) > MAX_DIM:
        raise EdgekitError(f"{what}: {text!r} is not a per-sample shape such as 3,64,64 (each size 1 to {MAX_DIM})")
    return shape


def parse_input_arg(text: str) -> tuple[str | None, tuple[int, ...], str]:
    """'tokens=12:int64' → ('tokens', (12,), 'int64'); '3,64,64' → (None, (3, 64, 64), 'float32')."""
    name, sep, rest = text.partition("=")
    if not sep:
        name, rest = None, text
    else:
        name = name.strip()
        if not _NAME.match(name):
            raise EdgekitError(f"--input {text!r}: {name!r} is not an input name (letters, digits, _)")
    shape_text, _, dtype = rest.partition(":")
    dtype = dtype.strip() or "float32"
    if dtype not in DTYPES:
        raise EdgekitError(f"--input {text!r}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return name, parse_shape(shape_text, f"--input {text!r}" if sep else f"--input-shape {text!r}"), dtype


def _positional(model) -> list:
    """`model.forward`'s positional parameters (inspect.Parameter), in order; [] when it has no signature."""
    import inspect

    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def forward_parameters(model) -> list[str]:
    """The names of `model.forward`'s positional parameters, in order (no *args / **kwargs)."""
    return [p.name for p in _positional(model)]


def required_parameters(model) -> list[str]:
    """Those of them without a default value."""
    return [p.name for p in _positional(model) if p.default is p.empty]


def io_from_args(model, args: list[str], source: str) -> IOSpec:
    """The inputs given on the command line (`--input NAME=SHAPE[:DTYPE]` and/or unnamed shapes in
    forward's order), checked against `forward`'s signature. Outputs are left to probing."""
    params = forward_parameters(model)
    required = required_parameters(model)
    parsed = [parse_input_arg(a) for a in args]
    named = [p for p in parsed if p[0] is not None]
    if named and len(named) != len(parsed):
        raise EdgekitError("give every input as NAME=SHAPE, or none of them (unnamed shapes follow forward's order)")
    if named:
        seen = set()
        for name, _, _ in named:
            if name in seen:
                raise EdgekitError(f"input {name!r} is given twice")
            seen.add(name)
            if params and name not in params:
                raise EdgekitError(f"{source}: forward() has no parameter {name!r} (it takes {', '.join(params)})")
        missing = [p for p in required if p not in seen]
        if missing:
            raise EdgekitError(f"{source}: forward() also needs {', '.join(missing)}: give --input "
                               f"{missing[0]}=SHAPE[:DTYPE]")
        order = {n: i for i, n in enumerate(params)}
        items = sorted(named, key=lambda p: order.get(p[0], len(order)))
        gaps = [p for p in params[: max(order.get(n, 0) for n, _, _ in items) + 1] if p not in seen]
        if gaps:  # an optional parameter before a given one: positional export cannot skip it
            raise EdgekitError(f"{source}: forward() parameter {gaps[0]!r} comes before a given input: give it too")
    else:
        if required and len(parsed) < len(required):
            raise EdgekitError(f"{source}: forward() takes {len(required)} inputs ({', '.join(required)}), "
                               f"{len(parsed)} shape(s) given: repeat --input-shape or use --input NAME=SHAPE")
        if params and len(parsed) > len(params):
            raise EdgekitError(f"{source}: forward() takes {len(params)} input(s) ({', '.join(params)}), "
                               f"{len(parsed)} shapes given")
        if len(parsed) == 1 and parsed[0][2] == "float32":  # the classic form keeps its classic name
            return IOSpec.single(parsed[0][1], output=None)
        items = [(params[i] if i < len(params) else f"input_{i}", shape, dtype)
                 for i, (_, shape, dtype) in enumerate(parsed)]
    specs = []
    for name, shape, dtype in items:
        specs.append(InputSpec(name, shape, dtype, kind_for_shape(shape, dtype)))
    return IOSpec(tuple(specs))

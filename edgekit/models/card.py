"""Model card: everything downstream needs to know about a model without re-deriving it.

Preprocessing comes from the model (timm's pretrained-config idea), so calibration, eval and
bench never depend on a flag the user must remember. Pure data: no torch import.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Card:
    name: str
    family: str = "custom"
    input_size: tuple[int, ...] = (3, 224, 224)  # per sample: C, H, W — or C, T, H, W for a video clip
    num_classes: int = 1000
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resize: int = 256  # shorter side before the centre crop
    crop: int = 224
    interpolation: str = "bilinear"
    madds_target: int | None = None  # published multiply-adds (the model's MFLOP budget)
    published_top1: float | None = None
    paper: str = ""
    description: str = ""
    extra: dict = field(default_factory=dict)
    # Named inputs and outputs (edgekit.models.io_spec); empty: one float input of `input_size` → logits.
    inputs: tuple = ()
    outputs: tuple = ()

    @property
    def io(self):
        """The model's IO spec: the declared inputs/outputs, else one input of `input_size`."""
        from edgekit.models.io_spec import IOSpec

        if self.inputs:
            return IOSpec(tuple(self.inputs), tuple(self.outputs))
        io = IOSpec.single(self.input_size)
        return io.with_outputs(self.outputs) if self.outputs else io

    def with_io(self, io) -> "Card":
        """The card for IO spec `io`; `input_size` follows the first input (what single-input code reads)."""
        if io.is_single and io.inputs[0].name == "input":
            return dataclasses.replace(self, input_size=tuple(io.inputs[0].shape), inputs=(),
                                       outputs=tuple(io.outputs))
        return dataclasses.replace(self, input_size=tuple(io.inputs[0].shape), inputs=tuple(io.inputs),
                                   outputs=tuple(io.outputs))

    def with_input_size(self, size: int) -> "Card":
        """The same card for a square input of `size` pixels (crop and resize scale along; a clip keeps T)."""
        resize = int(round(size * self.resize / self.crop)) if self.crop else size
        return dataclasses.replace(self, input_size=(*self.input_size[:-2], size, size), crop=size, resize=resize)

    @property
    def clip_length(self) -> int | None:
        """T of a video model's (C, T, H, W) input; None for an image model."""
        return int(self.input_size[1]) if len(self.input_size) == 4 else None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        d["inputs"] = [s.to_dict() for s in self.inputs]
        d["outputs"] = [s.to_dict() for s in self.outputs]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Card":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for key in ("input_size", "mean", "std"):
            if key in kw and kw[key] is not None:
                kw[key] = tuple(kw[key])
        from edgekit.models.io_spec import InputSpec, OutputSpec

        kw["inputs"] = tuple(InputSpec.from_dict(s) for s in kw.get("inputs") or ())
        kw["outputs"] = tuple(OutputSpec.from_dict(s) for s in kw.get("outputs") or ())
        return cls(**kw)

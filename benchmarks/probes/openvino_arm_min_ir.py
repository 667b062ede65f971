"""Minimal INT8 IRs that OpenVINO 2026.4.1's aarch64 CPU plugin refuses, each with an accepted sibling that differs
in one thing (issue 20 (a)); made with openvino's opset API, int8 weights stored as NNCF stores them
(i8 Constant -> Convert -> Multiply by a per-channel scale), random weights, per-channel biases N(0, 0.1):

  refused        Parameter -> FakeQuantize [-3.44, 3.42] -> Convolution 1x1 24->88 -> Add (bias) ->
                 FakeQuantize [0, 2.8] -> Convolution 1x1 88->88                 ("object is not initialized")
  accepted       the same with the first FakeQuantize symmetric as NNCF makes it ([-3.42 * 128/127, 3.42])
  refused_chain  FQ [0, 3.78] -> Conv 72->24 -> Add (bias) -> FQ symmetric [-3.416 * 128/127, 3.416] ->
                 Conv 24->88 -> Add (bias) -> FQ [0, 2.8] -> Conv 88->88          ("object is not initialized")
  accepted_chain the same without the first bias Add
  refused_align  float Parameter -> Conv 96->40 -> Add (bias) -> FQ -> Conv 40->240
                 (AlignUnsupportedLPConvFQPrecision: "Convolution input precision should be single")
  accepted_align the same with a FakeQuantize [0, 4] in front of the first Conv

    python benchmarks/probes/openvino_arm_min_ir.py OUT_DIR

Measured 2026-12-03 on the emulated aarch64 device (qemu cortex-a72, openvino 2026.4.1 aarch64 wheel): the three
refused IRs fail at compile_model, the three accepted ones compile; x86 openvino 2026.4.1 compiles all six.
refused_chain is the shape of the mobilenetv3-small-100 INT8 IR's first failing stretch (features.2's project conv
+ bias -> FQ -> features.3's expand conv + bias -> ... -> features.3's depthwise conv: the sub-model cut there
fails, openvino_arm_int8_cut.py). A uniform or zero bias compiles. What the plugin objects to exactly is not
pinned down: MicroNet-M0's INT8 stem (FQ [-2.58, 2.56] -> Conv 3->4 3x3 s2 -> bias -> Clamp -> FQ -> GroupConv)
has the same op sequence and compiles, so no inspect warning is derived from this yet.
"""

from __future__ import annotations

import sys
from pathlib import Path

SYMMETRIC = 128 / 127  # NNCF's signed 8-bit activation range: [-t * 128/127, t]


def build(name: str):
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)

    def fq(x, lo, hi):
        return ops.fake_quantize(x, *(ops.constant(np.float32(v)) for v in (lo, hi, lo, hi)), 256)

    def conv(x, cin, cout):
        ints = rng.integers(-127, 128, size=(cout, cin, 1, 1)).astype(np.int8)
        w = ops.multiply(ops.convert(ops.constant(ints), "f32"), ops.constant(np.full((cout, 1, 1, 1), 0.01, np.float32)))
        return ops.convolution(x, w, [1, 1], [0, 0], [0, 0], [1, 1])

    def bias(x, c):
        return ops.add(x, ops.constant((rng.standard_normal((1, c, 1, 1)) * 0.1).astype(np.float32)))

    if name in ("refused", "accepted"):
        p = ops.parameter([1, 24, 8, 8], np.float32, name="input")
        lo = -3.44 if name == "refused" else -3.42 * SYMMETRIC
        y = conv(fq(bias(conv(fq(p, lo, 3.42), 24, 88), 88), 0.0, 2.8), 88, 88)
    elif name in ("refused_chain", "accepted_chain"):
        p = ops.parameter([1, 72, 8, 8], np.float32, name="input")
        x = conv(fq(p, 0.0, 3.78), 72, 24)
        x = bias(x, 24) if name == "refused_chain" else x
        x = bias(conv(fq(x, -3.416252 * SYMMETRIC, 3.416252), 24, 88), 88)
        y = conv(fq(x, 0.0, 2.8), 88, 88)
    else:
        p = ops.parameter([1, 96, 4, 4], np.float32, name="input")
        x = p if name == "refused_align" else fq(p, 0.0, 4.0)
        y = conv(fq(bias(conv(x, 96, 40), 40), -3.04, 3.02), 40, 240)
    return ov.Model([y], [p], name)


NAMES = ("refused", "accepted", "refused_chain", "accepted_chain", "refused_align", "accepted_align")


def write(out_dir) -> dict[str, Path]:
    import openvino as ov

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in NAMES:
        files[name] = out / f"{name}.xml"
        ov.save_model(build(name), str(files[name]), compress_to_fp16=False)
    return files


if __name__ == "__main__":
    for name, path in write(sys.argv[1] if len(sys.argv) > 1 else ".").items():
        print(name, path)

"""Minimal INT8 IRs that OpenVINO 2026.4.1's aarch64 CPU plugin refuses, each next to accepted siblings that differ
in one thing (issue 20 (a)); made with openvino's opset API, int8 weights stored as NNCF stores them
(i8 Constant -> Convert -> Multiply by a per-channel scale), random weights, per-channel biases N(0, 0.1).
Notation: FQ u8 = FakeQuantize [0, hi]; FQ i8 = NNCF's symmetric signed [-hi * 128/127, hi]; FQ zp = signed
asymmetric (needs a zero point); conv = Convolution 1x1 (dw = GroupConvolution 3x3); +b = per-channel bias Add.

PROBES maps each name to (what it is, what the board does): "ok", "not-initialized" ("object is not
initialized" at compile_model) or "align" (AlignUnsupportedLPConvFQPrecision: "Convolution input precision
should be single"). edgekit/analysis/openvino_arm_int8.py's rules are tested against this table
(tests/analysis/test_openvino_arm_int8.py) and the table against the board (tests/remote/test_arm_openvino.py).

    python benchmarks/probes/openvino_arm_min_ir.py OUT_DIR      # writes OUT_DIR/NAME.xml for every probe

Measured 2026-12-04 on the emulated aarch64 device (qemu cortex-a72, openvino 2026.4.1 aarch64 wheel), 34 probes
(of ~150 run over two days): every outcome as in PROBES; x86 openvino 2026.4.1 compiles
all. "refused_chain" is the shape of the mobilenetv3-small-100 INT8 IR's first failing stretch (features.2's
project conv + bias -> FQ -> features.3's expand conv + bias; openvino_arm_int8_cut.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

SYMMETRIC = 128 / 127  # NNCF's signed 8-bit activation range: [-t * 128/127, t]

PROBES = {
    # rule zero-point: a signed asymmetric FQ into a biased conv
    "refused": ("FQ zp -> conv 24->88 +b -> FQ u8 -> conv 88->88", "not-initialized"),
    "accepted": ("the same with the first FQ i8", "ok"),
    # rule mixed: u8 in, i8 out after the bias, into another biased conv
    "refused_chain": ("FQ u8 -> conv 72->24 +b -> FQ i8 -> conv 24->88 +b -> FQ u8 -> conv 88->88", "not-initialized"),
    "accepted_chain": ("the same without the first +b", "ok"),
    "chain_i8_u8": ("FQ i8 -> conv 3->16 +b relu -> FQ u8 -> conv 16->32 +b relu -> FQ u8", "not-initialized"),
    "chain_i8_u8_open": ("the same without the last FQ (the second conv's output not requantized)", "ok"),
    "chain_u8_u8": ("chain_i8_u8 with the first FQ u8", "ok"),
    "chain_3x3_s2": ("chain_i8_u8 with 3x3 s2 convs", "not-initialized"),
    "chain_3x3_s1": ("chain_3x3_s2 with the second conv 3x3 s1", "ok"),
    "chain_5x5_s1": ("chain_3x3_s2 with the second conv 5x5 s1", "not-initialized"),
    "chain_3d": ("chain_i8_u8 in 5-D: conv 3x3x3 s(1,2,2), conv 3x3x3 s(2,2,2) (s3d-small's stem)", "not-initialized"),
    "chain_3d_open": ("chain_3d without the last FQ", "ok"),
    "chain_3d_1x3x3": ("chain_3d with 1x3x3 kernels s(1,2,2) (tan-small's stem; its second activation also "
                       "feeds a residual Add, which chain_3d_1x3x3_open models)", "not-initialized"),
    "chain_3d_1x3x3_open": ("chain_3d_1x3x3 without the last FQ", "ok"),
    "mixed_branch_first": ("refused_chain with the first +b also feeding a float Relu output (a residual)",
                           "not-initialized"),
    "mixed_branch_second": ("refused_chain with Relu after the second +b also feeding a float Sigmoid output",
                            "ok"),
    "mixed_uniform_bias": ("refused_chain with a uniform first bias", "ok"),
    "mixed_hswish": ("refused_chain with HSwish between the first +b and its FQ", "ok"),
    "mixed_dw_next": ("refused_chain with the second conv a dw", "ok"),
    "same_sign_chain": ("refused_chain with the middle FQ u8", "ok"),
    # rule float-input: float input, int8 weights, +b, requantized output
    "refused_align": ("float -> conv 96->40 +b -> FQ zp -> conv 40->240", "align"),
    "accepted_align": ("the same with an FQ u8 in front", "ok"),
    "align_no_bias": ("refused_align without +b", "ok"),
    "align_dw_next": ("refused_align with a dw after the FQ", "align"),
    "align_u8": ("refused_align with the FQ u8", "align"),
    "align_relu": ("refused_align with Relu before an FQ u8", "align"),
    "align_biased_next": ("refused_align with +b after the second conv", "align"),
    "align_i8": ("refused_align with the FQ i8", "align"),
    "align_no_fq": ("float -> conv +b (output)", "ok"),
    "align_dw_first": ("float -> dw +b -> FQ zp -> conv", "ok"),
    "align_float_weights": ("refused_align with float weights (what NNCF keeps for a layer left float)", "ok"),
    "align_float_weights_relu": ("align_relu with float weights", "ok"),
    "align_fq_output": ("float -> conv +b -> FQ zp (output)", "align"),
    "align_fq_pool": ("float -> conv +b -> FQ zp -> MaxPool", "align"),
}
NAMES = tuple(PROBES)


def build(name: str):
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)

    def fq(x, lo, hi):
        return ops.fake_quantize(x, *(ops.constant(np.float32(v)) for v in (lo, hi, lo, hi)), 256)

    def conv(x, cin, cout, int8=True):
        if int8:
            ints = rng.integers(-127, 128, size=(cout, cin, 1, 1)).astype(np.int8)
            w = ops.multiply(ops.convert(ops.constant(ints), "f32"),
                             ops.constant(np.full((cout, 1, 1, 1), 0.01, np.float32)))
        else:
            w = ops.constant((rng.standard_normal((cout, cin, 1, 1)) * 0.1).astype(np.float32))
        return ops.convolution(x, w, [1, 1], [0, 0], [0, 0], [1, 1])

    def dw(x, c):
        ints = rng.integers(-127, 128, size=(c, 1, 1, 3, 3)).astype(np.int8)
        w = ops.multiply(ops.convert(ops.constant(ints), "f32"),
                         ops.constant(np.full((c, 1, 1, 1, 1), 0.01, np.float32)))
        return ops.group_convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1])

    def bias(x, c, uniform=False):
        v = np.full((1, c, 1, 1), 0.05) if uniform else rng.standard_normal((1, c, 1, 1)) * 0.1
        return ops.add(x, ops.constant(v.astype(np.float32)))

    if name.startswith("chain_"):
        k0, s0, k1, s1 = {"3x3_s2": ((3, 3), (2, 2), (3, 3), (2, 2)), "3x3_s1": ((3, 3), (2, 2), (3, 3), (1, 1)),
                          "5x5_s1": ((3, 3), (2, 2), (5, 5), (1, 1)),
                          "3d": ((3, 3, 3), (1, 2, 2), (3, 3, 3), (2, 2, 2)),
                          "3d_1x3x3": ((1, 3, 3), (1, 2, 2), (1, 3, 3), (1, 2, 2))}.get(
            name[6:].removesuffix("_open"), ((1, 1), (1, 1), (1, 1), (1, 1)))
        nd = len(k0)

        def kconv(x, ci, co, k, st):
            ints = rng.integers(-127, 128, size=(co, ci, *k)).astype(np.int8)
            w = ops.multiply(ops.convert(ops.constant(ints), "f32"),
                             ops.constant(np.full((co,) + (1,) * (nd + 1), 0.01, np.float32)))
            y = ops.convolution(x, w, list(st), [q // 2 for q in k], [q // 2 for q in k], [1] * nd)
            b = (rng.standard_normal((1, co) + (1,) * nd) * 0.1).astype(np.float32)
            return ops.relu(ops.add(y, ops.constant(b)))

        p = ops.parameter([1, 3, 16, 56, 56] if nd == 3 else [1, 3, 56, 56], np.float32, name="input")
        lo = 0.0 if name == "chain_u8_u8" else -2.834 * SYMMETRIC
        y = kconv(fq(kconv(fq(p, lo, 2.834), 3, 16, k0, s0), 0.0, 4.6), 16, 32, k1, s1)
        return ov.Model([y if name.endswith("_open") else fq(y, 0.0, 3.9)], [p], name)
    if name in ("refused", "accepted"):
        p = ops.parameter([1, 24, 8, 8], np.float32, name="input")
        lo = -3.44 if name == "refused" else -3.42 * SYMMETRIC
        y = conv(fq(bias(conv(fq(p, lo, 3.42), 24, 88), 88), 0.0, 2.8), 88, 88)
    elif name in ("refused_chain", "accepted_chain") or name.startswith(("mixed_", "same_sign")):
        p = ops.parameter([1, 72, 8, 8], np.float32, name="input")
        x = conv(fq(p, 0.0, 3.78), 72, 24)
        if name != "accepted_chain":
            x = bias(x, 24, uniform=name == "mixed_uniform_bias")
        if name == "mixed_hswish":
            x = ops.hswish(x)
        extra = [ops.relu(x)] if name == "mixed_branch_first" else []
        x = fq(x, 0.0, 3.416252) if name == "same_sign_chain" else fq(x, -3.416252 * SYMMETRIC, 3.416252)
        x = bias(dw(x, 24), 24) if name == "mixed_dw_next" else bias(conv(x, 24, 88), 88)
        c = 24 if name == "mixed_dw_next" else 88
        if name == "mixed_branch_second":
            x = ops.relu(x)
            extra = [ops.sigmoid(x)]
        y = conv(fq(x, 0.0, 2.8), c, 88)
        return ov.Model([y, *extra], [p], name)
    else:
        p = ops.parameter([1, 96, 4, 4], np.float32, name="input")
        x = fq(p, 0.0, 4.0) if name == "accepted_align" else p
        if name == "align_dw_first":
            x, c = bias(dw(x, 96), 96), 96
        else:
            x = conv(x, 96, 40, int8=not name.startswith("align_float_weights"))
            x, c = (x if name == "align_no_bias" else bias(x, 40)), 40
        if name == "align_no_fq":
            return ov.Model([x], [p], name)
        if name in ("align_relu", "align_float_weights_relu"):
            x = fq(ops.relu(x), 0.0, 3.0)
        elif name == "align_u8":
            x = fq(x, 0.0, 3.0)
        elif name == "align_i8":
            x = fq(x, -3.02 * SYMMETRIC, 3.02)
        else:
            x = fq(x, -3.04, 3.02)
        if name == "align_fq_output":
            y = x
        elif name == "align_fq_pool":
            y = ops.max_pool(x, [1, 1], [1, 1], [0, 0], [0, 0], [2, 2]).output(0)
        elif name == "align_dw_next":
            y = dw(x, c)
        else:
            y = conv(x, c, 240)
            y = bias(y, 240) if name == "align_biased_next" else y
    return ov.Model([y], [p], name)


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

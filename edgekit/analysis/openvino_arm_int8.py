"""INT8 IR patterns that OpenVINO 2026.4's aarch64 CPU plugin refuses to compile.

Found by probing the emulated aarch64 board with minimal IRs that differ in one thing each (80 on 2026-12-03,
22 kept in benchmarks/probes/openvino_arm_min_ir.py with the board's answer for each; x86 compiles all of them).
Three rules separate every refused probe from every accepted one:

  mixed        a Convolution (not a GroupConvolution) with a per-channel bias Add whose input FakeQuantize and
               output FakeQuantize (after the bias, through Relu/Clamp only; float consumers such as a residual
               Add may sit beside it) differ in signedness (u8: low >= 0 on every channel; i8: low < 0), when
               that output feeds another Convolution (1-D, 2-D or 3-D) with a bias whose own output is
               requantized with nothing beside it (bias -> Relu/Clamp -> FakeQuantize, one consumer each):
               "object is not initialized". Either direction (i8 -> u8, u8 -> i8). Exempt, measured: a 2-D
               3x3 stride-1 second convolution; a second convolution whose activation also feeds a float
               consumer (tan-small's residual stem).
  zero-point   a Convolution with a bias whose input FakeQuantize is signed but not symmetric (low != -high *
               128/127, so it needs a zero point) and is not itself the fused output of a biased convolution:
               "object is not initialized".
  float-input  a Convolution with int8 weights (i8 Constant -> Convert -> Multiply) and a per-channel bias whose
               input is float (no FakeQuantize in front) and whose output is requantized by a FakeQuantize
               (through Relu/Clamp): AlignUnsupportedLPConvFQPrecision, "Convolution input precision should
               be single". Float weights (what NNCF keeps for a layer left float) or no bias compile.

A uniform bias, a depthwise/grouped second convolution, or an HSwish between the bias and the FakeQuantize
(which the plugin does not fuse) compiles. Checked on the zoo's INT8 IRs against the board (the ARM matrix):
the rules flag the MobileNetV3-Small family and s3d-small, which it refuses, and none of the IRs it compiles.
edgekit's OpenVINO INT8 export keeps the matched convolutions float (exporters.quantize_openvino.
aarch64_compatible); `inspect` of any OpenVINO IR prints the first match as a warning, so a user learns it
before shipping a file made elsewhere to an ARM board. No torch import: works on a device.
"""

from __future__ import annotations

SYMMETRIC = 128 / 127  # NNCF's signed 8-bit activation range: [-t * 128/127, t]
FUSED_ACTIVATIONS = {"Relu", "Clamp"}


def _const(node):
    import numpy as np

    if node.get_type_name() == "Constant":
        return np.asarray(node.get_data(), dtype=np.float64)
    return None


def _fq_kind(fq) -> str | None:
    """'u8', 'i8' (symmetric) or 'zp' (signed with a zero point) for an activation FakeQuantize (per-tensor or
    per-channel: u8 when every channel's low is >= 0)."""
    import numpy as np

    lo, hi = (_const(fq.input(k).get_source_output().get_node()) for k in (1, 2))
    if lo is None or hi is None:
        return None
    lo, hi = np.broadcast_arrays(lo, hi)
    if (lo >= 0).all():
        return "u8"
    return "i8" if (np.abs(-lo - hi * SYMMETRIC) <= 1e-3 * np.maximum(hi, 1e-9)).all() else "zp"


def _consumers(node):
    return [t.get_node() for t in node.output(0).get_target_inputs()]


def _bias_add(conv):
    """The Add of a non-uniform per-channel constant right after `conv`, or None."""
    outs = _consumers(conv)
    if len(outs) != 1 or outs[0].get_type_name() != "Add":
        return None
    add = outs[0]
    for k in range(2):
        v = _const(add.input(k).get_source_output().get_node())
        if v is not None and v.size > 1 and float(v.max() - v.min()) > 0:
            return add
    return None


def _output_fq(add, exclusive: bool = True):
    """The FakeQuantize fed by `add` through fused activations (Relu/Clamp): the plugin's requantization.
    exclusive: every node on the way has that one consumer; otherwise the FakeQuantize (or the activation
    leading to it) may sit next to float consumers (a residual Add), which the plugin still fuses."""
    node = add
    while True:
        outs = _consumers(node)
        if exclusive and len(outs) != 1:
            return None
        fqs = [o for o in outs if o.get_type_name() == "FakeQuantize"]
        if fqs:
            return fqs[0]
        acts = [o for o in outs if o.get_type_name() in FUSED_ACTIVATIONS]
        if len(acts) != 1:
            return None
        node = acts[0]


def _int8_weights(node, depth: int = 0) -> bool:
    """Whether a weight input is int8 storage decompressed in the graph (Constant i8/u8 -> Convert -> ...)."""
    if node.get_type_name() == "Constant":
        return node.get_element_type().get_type_name() in ("i8", "u8")
    if depth > 4 or node.get_type_name() not in ("Convert", "Multiply", "Subtract", "Reshape"):
        return False
    return any(_int8_weights(node.input(k).get_source_output().get_node(), depth + 1)
               for k in range(node.get_input_size()))


def _input_fq(conv):
    src = conv.input(0).get_source_output().get_node()
    return src if src.get_type_name() == "FakeQuantize" else None


def _requantized(conv, biased) -> bool:
    """A Convolution with a bias whose output the plugin requantizes (a fused FakeQuantize after the bias)."""
    add = biased.get(conv.get_friendly_name())
    return add is not None and _output_fq(add) is not None


def _winograd_shape(conv) -> bool:
    """A 2-D 3x3 stride-1 Convolution: the one second convolution measured to compile in the mixed pattern."""
    w = conv.input(1).get_partial_shape()
    return w.rank.get_length() == 4 and [d.get_length() for d in w][2:] == [3, 3] and list(conv.get_strides()) == [1, 1]


def refusals(model) -> list[dict]:
    """Each Convolution of an OpenVINO model (or IR path) that matches a refused pattern: {node, rule, why}."""
    if not hasattr(model, "get_ordered_ops"):
        import openvino as ov

        model = ov.Core().read_model(str(model))
    found, fused_outputs = [], set()
    convs = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    biased = {c.get_friendly_name(): _bias_add(c) for c in convs}
    for conv in convs:
        add = biased[conv.get_friendly_name()]
        out_fq = _output_fq(add) if add is not None else None
        if out_fq is not None:
            fused_outputs.add(out_fq.get_friendly_name())
    for conv in convs:
        name, add = conv.get_friendly_name(), biased[conv.get_friendly_name()]
        in_fq = _input_fq(conv)
        if add is None:
            continue
        if in_fq is None:
            if _output_fq(add) is not None and _int8_weights(conv.input(1).get_source_output().get_node()):
                found.append({"node": name, "rule": "float-input",
                              "why": "float input, int8 weights, bias, requantized output"})
            continue
        kin = _fq_kind(in_fq)
        if kin == "zp" and in_fq.get_friendly_name() not in fused_outputs:
            found.append({"node": name, "rule": "zero-point",
                          "why": "signed asymmetric FakeQuantize (needs a zero point) into a convolution with bias"})
            continue
        out_fq = _output_fq(add, exclusive=False)
        if out_fq is None or kin is None:
            continue
        kout = _fq_kind(out_fq)
        nxt = [c for c in _consumers(out_fq) if c.get_type_name() == "Convolution" and _requantized(c, biased)
               and not _winograd_shape(c)]
        if kout and (kin == "u8") != (kout == "u8") and nxt:
            found.append({"node": name, "rule": "mixed",
                          "why": f"{kin} input, {kout} output requantized after the bias, into "
                                 f"{nxt[0].get_friendly_name()} with bias"})
    return found


ERRORS = {"mixed": "object is not initialized", "zero-point": "object is not initialized",
          "float-input": "Convolution input precision should be single"}


def warning(model) -> str | None:
    """One line for `inspect`, or None when no refused pattern is present."""
    found = refusals(model)
    if not found:
        return None
    first = found[0]
    return (f"OpenVINO 2026.4 aarch64 CPU refuses this INT8 IR (\"{ERRORS[first['rule']]}\"): {len(found)} "
            f"convolution(s) match a refused pattern, first {first['node']} ({first['why']}); x86 compiles it")

"""Integer input/output (`--int8-io`) for the ONNX and OpenVINO INT8 models.

The model then takes and returns integer tensors, and the (scale, zero point) of each is recorded
in the same io spec LiteRT's file carries ({"input": {name, dtype, scale, zero_point}, "output":
{...}}): in the ONNX metadata (key `int8_io`), in the OpenVINO rt_info (edgekit/int8_io), and in
the quantization report and sidecar. Runners turn it into `TensorSpec.quantization`, so parity,
eval and bench feed these models exactly like a LiteRT integer-I/O model.

Several inputs / outputs: the spec is per name, {"inputs": [entry, ...], "outputs": [entry, ...]} in
the graph's order. Every float input (an image, a clip, a flow field) and every float output becomes
8-bit with its own (scale, zero point); an integer input (token ids) keeps its dtype and is recorded
with `"scale": null` (edgekit never quantizes or normalises ids).

ONNX: the QuantizeLinear on the float input and the DequantizeLinear before the float output are
dropped (the integer tensors become the graph's input and output). When the first or last op is
not quantized, a DequantizeLinear is put after the integer input, or a QuantizeLinear before the
integer output, with parameters from the calibration data.
OpenVINO: `ov.preprocess.PrePostProcessor` makes the input tensor i8 and dequantizes it in the
graph on the grid of the FakeQuantize that follows the input (so that FakeQuantize is exact), and
quantizes the output in the graph (round half to even, clamp) to an i8 output tensor.
"""

from __future__ import annotations

import json

import numpy as np

from edgekit.errors import EdgekitError

META_KEY = "int8_io"


def qparams(lo: float, hi: float, dtype: str) -> tuple[float, int]:
    """(scale, zero point) of an asymmetric 8-bit grid covering [lo, hi] and 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    info = np.iinfo(dtype)
    zp = int(np.clip(np.round(info.min - lo / scale), info.min, info.max))
    return float(scale), zp


def entry(name: str, dtype: str, scale: float, zero_point: int) -> dict:
    return {"name": name, "dtype": np.dtype(dtype).name, "scale": float(scale), "zero_point": int(zero_point)}


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x, np.float32) / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(q).astype(np.float32) - zero_point) * scale).astype(np.float32)


def kept_entry(name: str, dtype: str) -> dict:
    """An integer input left as it is (token ids): no scale, no zero point."""
    return {"name": name, "dtype": np.dtype(dtype).name, "scale": None, "zero_point": None,
            "kept": "integer ids: never quantized or normalised"}


def boundary_entries(spec, kind: str) -> list[dict]:
    """The spec's entries of `kind` ("input" / "output"), whichever form it has (one or several)."""
    if not spec:
        return []
    if kind + "s" in spec:
        return list(spec[kind + "s"])
    return [spec[kind]] if spec.get(kind) else []


def quantize_inputs(x, spec, name: str | None = None):
    """Float samples `x` (one array, or {input name: array}) as an integer-I/O model takes them."""
    if not spec:
        return x
    by_name = {e["name"]: e for e in boundary_entries(spec, "input") if e.get("scale")}
    if not isinstance(x, dict):
        e = by_name.get(name) or next(iter(by_name.values()), None)
        return quantize(x, e["scale"], e["zero_point"], e["dtype"]) if e else x
    return {k: (quantize(v, by_name[k]["scale"], by_name[k]["zero_point"], by_name[k]["dtype"]) if k in by_name
                else v) for k, v in x.items()}


def dequantize_outputs(outs: list, spec, names: list[str]) -> list:
    """An integer-I/O model's outputs (in the order of `names`) back to float, each with its own grid."""
    if not spec:
        return outs
    entries = boundary_entries(spec, "output")
    by_name = {e["name"]: e for e in entries if e.get("scale")}
    if "output" in spec:  # one output: the spec's name may predate a rename
        by_name = {names[0]: entries[0]} if entries else {}
    return [dequantize(o, by_name[n]["scale"], by_name[n]["zero_point"]) if n in by_name else o
            for o, n in zip(outs, names)]


def _range_of(a) -> tuple[float, float]:
    a = np.asarray(a)
    return float(a.min()), float(a.max())


def ranges_by_name(calib, names: list[str]) -> dict[str, tuple[float, float]]:
    """{input name: (min, max)} of a calibration set (one array for a one-input model)."""
    if isinstance(calib, dict):
        return {k: _range_of(v) for k, v in calib.items()}
    return {names[0]: _range_of(calib)}


def _finish(entries_in: list[dict], entries_out: list[dict], single: bool) -> dict:
    if single:
        return {"input": entries_in[0], "output": entries_out[0]}
    return {"inputs": entries_in, "outputs": entries_out}


# ------------------------------------------------------------------------------------------ ONNX

def onnx_integer_io(model, calib, outputs, dtype: str = "uint8") -> dict:
    """Make `model` (a quantized onnx.ModelProto, edited in place) take and return integers.

    `calib`: the calibration inputs (one array, or {input name: array}); `outputs`: the quantized model's
    float outputs on them, one array per graph output. Both give float ranges, used only where no
    boundary Q/DQ exists to reuse. Float inputs and outputs become `dtype` (or the grid of the Q/DQ
    reused); integer inputs stay as they are. Returns the io spec (also stored in the model's metadata
    under `int8_io`).
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    single = len(graph.input) == 1 and len(graph.output) == 1
    inits = {i.name: i for i in graph.initializer}
    in_ranges = ranges_by_name(calib, [i.name for i in graph.input])

    def value(name):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        for n in graph.node:
            if n.op_type == "Constant" and n.output[0] == name:
                return numpy_helper.to_array(n.attribute[0].t)
        raise EdgekitError(f"--int8-io: quantization parameter {name} is not a constant")

    def consumers(t):
        return [n for n in graph.node if t in n.input]

    def rename_uses(old, new):
        for n in graph.node:
            for k, i in enumerate(n.input):
                if i == old:
                    n.input[k] = new

    def add_init(name, array):
        graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    elem = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8}
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16)

    def integer_input(x) -> dict:
        users = consumers(x.name)
        qs = [n for n in users if n.op_type == "QuantizeLinear"]
        if len(users) == 1 and len(qs) == 1 and len(qs[0].input) == 3 and value(qs[0].input[1]).size == 1:
            q = qs[0]  # input -> QuantizeLinear -> (integer): the integer tensor becomes the input
            scale, zp = float(value(q.input[1]).reshape(-1)[0]), value(q.input[2])
            in_dtype = zp.dtype.name
            graph.node.remove(q)
            rename_uses(q.output[0], x.name)
            zp = int(zp.reshape(-1)[0])
        else:  # the first op stays float (or several ops read it): integer input -> DequantizeLinear -> float
            in_dtype = dtype
            scale, zp = qparams(*in_ranges[x.name], dtype)
            deq = x.name + "_dequantized"
            rename_uses(x.name, deq)
            graph.node.insert(0, helper.make_node(
                "DequantizeLinear", [x.name, add_init(x.name + "_io_scale", np.array(scale, np.float32)),
                                     add_init(x.name + "_io_zero_point", np.array(zp, dtype))], [deq],
                name=x.name + "_io_dequantize"))
        x.type.tensor_type.elem_type = elem[in_dtype]
        return entry(x.name, in_dtype, scale, zp)

    def integer_output(y, y_range) -> dict:
        producer = next(n for n in graph.node if y.name in n.output)
        if producer.op_type == "DequantizeLinear" and len(producer.input) == 3 \
                and value(producer.input[1]).size == 1 and len(consumers(y.name)) == 0 \
                and len(consumers(producer.input[0])) == 1:
            o_scale = float(value(producer.input[1]).reshape(-1)[0])
            o_zp_arr = value(producer.input[2])
            out_dtype, o_zp = o_zp_arr.dtype.name, int(o_zp_arr.reshape(-1)[0])
            integer = producer.input[0]
            graph.node.remove(producer)
            for n in graph.node:  # the integer tensor takes the output's name
                for k, o in enumerate(n.output):
                    if o == integer:
                        n.output[k] = y.name
            rename_uses(integer, y.name)
        else:  # the last op stays float: float -> QuantizeLinear -> integer output
            out_dtype = dtype
            o_scale, o_zp = qparams(*y_range, dtype)
            flt = y.name + "_float"
            for k, o in enumerate(producer.output):
                if o == y.name:
                    producer.output[k] = flt
            rename_uses(y.name, flt)
            graph.node.append(helper.make_node(
                "QuantizeLinear", [flt, add_init(y.name + "_io_scale", np.array(o_scale, np.float32)),
                                   add_init(y.name + "_io_zero_point", np.array(o_zp, out_dtype))], [y.name],
                name=y.name + "_io_quantize"))
        y.type.tensor_type.elem_type = elem[out_dtype]
        return entry(y.name, out_dtype, o_scale, o_zp)

    spec_in = [integer_input(x) if x.type.tensor_type.elem_type in floats
               else kept_entry(x.name, helper.tensor_dtype_to_np_dtype(x.type.tensor_type.elem_type))
               for x in graph.input]
    spec_out = [integer_output(y, _range_of(o)) if y.type.tensor_type.elem_type in floats
                else kept_entry(y.name, helper.tensor_dtype_to_np_dtype(y.type.tensor_type.elem_type))
                for y, o in zip(graph.output, outputs)]
    spec = _finish(spec_in, spec_out, single)
    props = [p for p in model.metadata_props if p.key != META_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    model.metadata_props.add(key=META_KEY, value=json.dumps(spec, sort_keys=True))
    return spec


# -------------------------------------------------------------------------------------- OpenVINO

def _const(output):
    node = output.get_node()
    while node.get_type_name() == "Convert":
        node = node.input(0).get_source_output().get_node()
    if node.get_type_name() != "Constant":
        return None
    return np.asarray(node.get_data(), dtype=np.float64)


def input_fake_quantize_grid(model, index: int = 0) -> tuple[float, int] | None:
    """(scale, int8 zero point) of the per-tensor 256-level FakeQuantize right after input `index`, if any."""
    param = model.get_parameters()[index]
    users = [t.get_node() for t in param.output(0).get_target_inputs()]
    fqs = [u for u in users if u.get_type_name() == "FakeQuantize"]
    if len(users) != 1 or len(fqs) != 1 or fqs[0].get_attributes().get("levels") != 256:
        return None
    lo, hi = (_const(fqs[0].input(i).get_source_output()) for i in (1, 2))
    if lo is None or hi is None or lo.size != 1 or hi.size != 1 or hi.item() <= lo.item():
        return None
    step = (hi.item() - lo.item()) / 255.0
    zp = int(np.clip(np.round(-128 - lo.item() / step), -128, 127))
    return float(step), zp


def openvino_integer_io(model, calib, outputs):
    """(ov.Model with i8 float-boundaries, io spec). `calib`: calibration inputs (one array, or {input
    name: array}); `outputs`: the model's float outputs on them, one array per output. Integer inputs
    (token ids) stay as they are. The spec is also in rt_info edgekit/int8_io."""
    import openvino as ov
    from openvino import opset13 as ops
    from openvino.preprocess import PrePostProcessor

    single = len(model.inputs) == 1 and len(model.outputs) == 1
    in_names = [p.get_any_name() for p in model.inputs]
    out_names = [p.get_any_name() for p in model.outputs]
    in_ranges = ranges_by_name(calib, in_names)
    grids = [input_fake_quantize_grid(model, i) for i in range(len(model.inputs))]  # before the PPP edits
    ppp = PrePostProcessor(model)
    spec_in, spec_out = [], []
    for i, (port, name) in enumerate(zip(model.inputs, in_names)):
        if not port.get_element_type().is_real():
            spec_in.append(kept_entry(name, np.dtype(port.get_element_type().to_dtype()).name))
            continue
        scale, zp = grids[i] if grids[i] is not None else qparams(*in_ranges[name], "int8")

        def dequantize_input(x, scale=scale, zp=zp):
            x = ops.subtract(x, ops.constant(np.float32(zp)))
            return ops.multiply(x, ops.constant(np.float32(scale))).output(0)

        ppp.input(i).tensor().set_element_type(ov.Type.i8)
        ppp.input(i).preprocess().convert_element_type(ov.Type.f32).custom(dequantize_input)
        spec_in.append(entry(name, "int8", scale, zp))
    for i, (port, name, y) in enumerate(zip(model.outputs, out_names, outputs)):
        if not port.get_element_type().is_real():
            spec_out.append(kept_entry(name, np.dtype(port.get_element_type().to_dtype()).name))
            continue
        o_scale, o_zp = qparams(*_range_of(y), "int8")

        def quantize_output(t, o_scale=o_scale, o_zp=o_zp):
            q = ops.add(ops.divide(t, ops.constant(np.float32(o_scale))), ops.constant(np.float32(o_zp)))
            return ops.clamp(ops.round(q, "half_to_even"), -128.0, 127.0).output(0)

        ppp.output(i).postprocess().custom(quantize_output)
        ppp.output(i).tensor().set_element_type(ov.Type.i8)
        spec_out.append(entry(name, "int8", o_scale, o_zp))
    model = ppp.build()
    spec = _finish(spec_in, spec_out, single)
    model.set_rt_info(json.dumps(spec, sort_keys=True), ["edgekit", META_KEY])
    return model, spec

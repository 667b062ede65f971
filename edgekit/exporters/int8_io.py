"""Integer input/output (`--int8-io`) for the ONNX and OpenVINO INT8 models.

The model then takes and returns integer tensors, and the (scale, zero point) of each is recorded
in the same io spec LiteRT's file carries ({"input": {name, dtype, scale, zero_point}, "output":
{...}}): in the ONNX metadata (key `int8_io`), in the OpenVINO rt_info (edgekit/int8_io), and in
the quantization report and sidecar. Runners turn it into `TensorSpec.quantization`, so parity,
eval and bench feed these models exactly like a LiteRT integer-I/O model.

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


# ------------------------------------------------------------------------------------------ ONNX

def onnx_integer_io(model, input_range: tuple[float, float], output_range: tuple[float, float],
                    dtype: str = "uint8") -> dict:
    """Make `model` (a quantized onnx.ModelProto, edited in place) take and return integers.

    `input_range` / `output_range`: float ranges used only where no boundary Q/DQ exists to reuse.
    Returns the io spec (also stored in the model's metadata under `int8_io`).
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise EdgekitError("--int8-io needs a model with one input and one output")
    inits = {i.name: i for i in graph.initializer}

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
    x = graph.input[0]
    users = consumers(x.name)
    qs = [n for n in users if n.op_type == "QuantizeLinear"]
    if len(users) == 1 and len(qs) == 1 and len(qs[0].input) == 3:
        q = qs[0]  # input -> QuantizeLinear -> (integer): the integer tensor becomes the input
        scale, zp = float(value(q.input[1]).reshape(-1)[0]), value(q.input[2])
        in_dtype = zp.dtype.name
        if value(q.input[1]).size != 1:
            raise EdgekitError("--int8-io: the input is quantized per channel; expected one scale")
        graph.node.remove(q)
        rename_uses(q.output[0], x.name)
        zp = int(zp.reshape(-1)[0])
    else:  # the first op stays float: integer input -> DequantizeLinear -> float consumers
        in_dtype = dtype
        scale, zp = qparams(*input_range, dtype)
        deq = x.name + "_dequantized"
        rename_uses(x.name, deq)
        graph.node.insert(0, helper.make_node(
            "DequantizeLinear", [x.name, add_init(x.name + "_io_scale", np.array(scale, np.float32)),
                                 add_init(x.name + "_io_zero_point", np.array(zp, dtype))], [deq],
            name=x.name + "_io_dequantize"))
    x.type.tensor_type.elem_type = elem[in_dtype]
    spec_in = entry(x.name, in_dtype, scale, zp)

    y = graph.output[0]
    producer = next(n for n in graph.node if y.name in n.output)
    if producer.op_type == "DequantizeLinear" and len(producer.input) == 3 and value(producer.input[1]).size == 1 \
            and len(consumers(y.name)) == 0:
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
        o_scale, o_zp = qparams(*output_range, dtype)
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
    spec = {"input": spec_in, "output": entry(y.name, out_dtype, o_scale, o_zp)}
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


def input_fake_quantize_grid(model) -> tuple[float, int] | None:
    """(scale, int8 zero point) of the per-tensor 256-level FakeQuantize right after the input, if any."""
    param = model.get_parameters()[0]
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


def openvino_integer_io(model, input_range: tuple[float, float], output_range: tuple[float, float]):
    """(ov.Model with i8 input and output, io spec). The spec is also in rt_info edgekit/int8_io."""
    import openvino as ov
    from openvino import opset13 as ops
    from openvino.preprocess import PrePostProcessor

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise EdgekitError("--int8-io needs a model with one input and one output")
    grid = input_fake_quantize_grid(model)
    scale, zp = grid if grid is not None else qparams(*input_range, "int8")
    o_scale, o_zp = qparams(*output_range, "int8")
    in_name, out_name = model.input(0).get_any_name(), model.output(0).get_any_name()

    def dequantize_input(x):
        x = ops.subtract(x, ops.constant(np.float32(zp)))
        return ops.multiply(x, ops.constant(np.float32(scale))).output(0)

    def quantize_output(y):
        q = ops.add(ops.divide(y, ops.constant(np.float32(o_scale))), ops.constant(np.float32(o_zp)))
        return ops.clamp(ops.round(q, "half_to_even"), -128.0, 127.0).output(0)

    ppp = PrePostProcessor(model)
    ppp.input(0).tensor().set_element_type(ov.Type.i8)
    ppp.input(0).preprocess().convert_element_type(ov.Type.f32).custom(dequantize_input)
    ppp.output(0).postprocess().custom(quantize_output)
    ppp.output(0).tensor().set_element_type(ov.Type.i8)
    model = ppp.build()
    spec = {"input": entry(in_name, "int8", scale, zp), "output": entry(out_name, "int8", o_scale, o_zp)}
    model.set_rt_info(json.dumps(spec, sort_keys=True), ["edgekit", META_KEY])
    return model, spec

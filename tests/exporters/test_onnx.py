"""The ONNX exporter on its own: checked, static, simplified, self-contained, FP16, NHWC, opset."""

import onnx
import pytest
import torch

from edgekit.analysis.parity import measure_parity
from edgekit.errors import EdgekitError
from edgekit.exporters.base import ExportOptions
from edgekit.exporters.onnx import OnnxExporter
from edgekit.models.registry import create_model
from edgekit.runtimes.base import open_runner
from edgekit.models.conditioning import condition_batchnorm

SIZE = 64


def conditioned(name="micronet-m0", size=SIZE, seed=0):
    """A zoo model whose BatchNorm statistics come from data, as after training (outputs O(1), not ~0)."""
    model = create_model(name)
    return condition_batchnorm(model, (3, size, size), batches=3, seed=seed).eval()


@pytest.fixture(scope="module")
def m0():
    return conditioned()


def _export(model, path, **kw):
    options = ExportOptions("onnx", extra={"metadata": {"model": "micronet-m0"}}, **kw)
    info = OnnxExporter().convert(model, torch.zeros(1, 3, SIZE, SIZE), [path], options)
    return info, onnx.load(str(path))


@pytest.fixture(scope="module")
def fp32(m0, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "m0.onnx"
    info, proto = _export(m0, path)
    return path, info, proto


def test_checked_static_named_and_self_contained(fp32, m0):
    path, info, proto = fp32
    onnx.checker.check_model(proto, full_check=True)
    dims = lambda vi: [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]
    assert [(i.name, dims(i)) for i in proto.graph.input] == [("input", [1, 3, SIZE, SIZE])]
    assert [(o.name, dims(o)) for o in proto.graph.output] == [("logits", [1, 1000])]
    # weights embedded: no external data, and the file holds every parameter in float32
    assert all(init.data_location == onnx.TensorProto.DEFAULT for init in proto.graph.initializer)
    params = sum(p.numel() for p in m0.parameters())
    assert path.stat().st_size > 4 * params * 0.95
    assert not list(path.parent.glob("*.data"))
    assert info["onnx"]["exporter"] == "torch.onnx.export(dynamo=True)"
    assert info["onnx"]["simplifier"].startswith("onnxslim")
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"Identity", "Constant", "BatchNormalization"}  # folded / simplified away
    assert info["onnx"]["nodes_simplified"] == len(proto.graph.node) <= info["onnx"]["nodes_exported"]


def test_metadata_props(fp32):
    _, _, proto = fp32
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["model"] == "micronet-m0"
    assert int(meta["graph_madds"]) == 1_190_960  # M0 conv+linear MAdds at 64x64, unrewritten
    assert meta["onnx_exporter"].startswith("torch.onnx.export")


def test_fp32_parity_on_onnxruntime(fp32, m0):
    p = measure_parity(m0, open_runner(fp32[0]), (3, SIZE, SIZE), n=8)
    assert p.output_scale > 0.5  # conditioned: real logits, not ~0
    assert p.rel_max_abs_diff <= 1e-4 and p.top1_agreement == 1.0 and p.cosine > 0.99999


def test_fp16_weights_float32_io(m0, fp32, tmp_path):
    info, proto = _export(m0, tmp_path / "m0-fp16.onnx", precision="fp16")
    onnx.checker.check_model(proto, full_check=True)
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    types = {init.data_type for init in proto.graph.initializer if len(init.dims) >= 2 and init.data_type in floats}
    assert types == {onnx.TensorProto.FLOAT16}  # every weight matrix / kernel
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    ratio = (tmp_path / "m0-fp16.onnx").stat().st_size / fp32[0].stat().st_size
    assert 0.45 < ratio < 0.56
    p = measure_parity(m0, open_runner(tmp_path / "m0-fp16.onnx"), (3, SIZE, SIZE), n=8, precision="fp16")
    assert p.ok and p.rel_max_abs_diff <= 1e-2 and p.cosine > 0.999
    assert info["onnx"]["fp16"].startswith("onnxruntime")


def test_oldest_onnxruntime_from_the_compatibility_table(fp32):
    """The default export (opset 18, IR 10) needs onnxruntime 1.18: IR 10 is read from 1.18 on (onnxruntime's
    compatibility page; opset 18 alone would be 1.14). --compat below that is one line naming both."""
    from edgekit.analysis.runtime_compat import check_compat, runtime_requirements

    need = runtime_requirements(fp32[0])
    assert (need["ir_version"], need["opsets"], need["min_onnxruntime"]) == (10, {"ai.onnx": 18}, "1.18")
    assert check_compat(fp32[0], "onnxruntime==1.18")["min_onnxruntime"] == "1.18"
    with pytest.raises(EdgekitError, match=r"^m0.onnx \(opset 18, IR 10\) needs onnxruntime 1.18, not 1.17: "):
        check_compat(fp32[0], "onnxruntime==1.17")


def test_nhwc_input_and_opset17(m0, tmp_path):
    from edgekit.analysis.runtime_compat import runtime_requirements

    _, proto = _export(m0, tmp_path / "m0-nhwc.onnx", nhwc=True, opset=17)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    # TorchScript writes opset 17 as IR 8: both implemented from onnxruntime 1.12 on (the compatibility page)
    need = runtime_requirements(tmp_path / "m0-nhwc.onnx")
    assert (need["ir_version"], need["min_onnxruntime"]) == (8, "1.12")
    runner = open_runner(tmp_path / "m0-nhwc.onnx")
    assert runner.inputs()[0].shape == (1, SIZE, SIZE, 3)
    p = measure_parity(m0, runner, (3, SIZE, SIZE), n=4)
    assert p.rel_max_abs_diff <= 1e-4 and p.top1_agreement == 1.0


def test_old_opset_refused(m0, tmp_path):
    with pytest.raises(EdgekitError, match="opset 16 is too old"):
        _export(m0, tmp_path / "x.onnx", opset=16)
    assert not (tmp_path / "x.onnx").exists()

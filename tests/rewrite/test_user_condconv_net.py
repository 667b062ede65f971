"""The CondConv EfficientNet written as the widely used image-model library writes it
(tests/rewrite/user_condconv_net.py: matmul of the experts, batch folded into the groups, permute-view back,
one routing shared by three convolutions, depthwise CondConv) through `edgekit export`: every CondConv lifted,
exact, one XNNPACK partition with nothing on default kernels, the graph's MAdds = model + rewrite overhead
(stock: 0 of 11 passes, 25 partitions, MISMATCH — the issue's census of the library's own model)."""

import pytest
from rewrite_util import user_model_file


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return user_model_file(tmp_path_factory, "user_condconv_net.py", "usercc.py")


def _export(model_file, target, out):
    from edgekit.exporters.pipeline import export_model

    return export_model(f"{model_file}:efficientnet_cc_tiny", target, input_shape="3,32,32", out=out,
                        condition=True).exports[0].meta


def test_tflite_one_partition_exact_and_counted(model_file, tmp_path):
    meta = _export(model_file, "tflite", tmp_path)
    lifted = next(r for r in meta["rewrites"] if r["name"] == "lift_dynamic_conv")
    assert lifted["changed"] == 9  # 3 CondConv blocks x (expand, depthwise, project)
    d = meta["census"]["delegate"]
    assert (d["partitions"], d["default_kernel_ops"]) == (1, 0), d
    m = meta["madds"]
    assert m["graph_matches_model"] is True and m["graph_madds"] == m["conv_madds"] + m["rewrite_overhead"]
    assert m["dynamic_madds"] > 0 and m["rewrite_overhead"] > 0
    assert meta["parity"]["rel_max_abs_diff"] <= 1e-4 and meta["parity"]["output_scale"] > 1e-3
    assert not [w for w in meta["warnings"] if "MAdds" in w]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["onnx", "openvino", "executorch"])
def test_other_targets(model_file, tmp_path, target):
    meta = _export(model_file, target, tmp_path)
    assert meta["parity"]["rel_max_abs_diff"] <= 1e-4
    assert meta["madds"]["graph_matches_model"] in (True, None)
    if target == "onnx":
        assert meta["census"]["gather"] == 0 and meta["census"]["dynamic_weight_convs"] == 0
    if target == "executorch":
        assert meta["census"]["delegate"]["partitions"] == 1

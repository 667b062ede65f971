"""OpenVINO target on the real CPU plugin: FP32 parity, FP16 compression, graph MAdds, threads."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ov = pytest.importorskip("openvino")

from edgekit.analysis.census_openvino import census  # noqa: E402
from edgekit.analysis.flops import count_madds  # noqa: E402
from edgekit.exporters.base import ExportOptions, get_exporter  # noqa: E402
from edgekit.models import create_model  # noqa: E402
from edgekit.runtimes.base import open_runner  # noqa: E402
from edgekit.models.conditioning import condition_batchnorm
from edgekit.rewrite.pipeline import rewrite_for_export

SIZE = 64
SHAPE = (3, SIZE, SIZE)


def rel_error(model, runner, n=4, seed=1) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    refs, outs = [], []
    with torch.no_grad():
        for _ in range(n):
            x = rng.standard_normal((1, *SHAPE)).astype(np.float32)
            refs.append(model(torch.from_numpy(x)).numpy())
            outs.append(runner.run(x)[0])
    scale = max(float(np.abs(r).max()) for r in refs)
    return max(float(np.abs(r - o).max()) for r, o in zip(refs, outs)) / scale, scale


@pytest.fixture(scope="module")
def subject():
    torch.manual_seed(0)
    base = condition_batchnorm(create_model("micronet-m0"), SHAPE, batches=2).eval()
    model, _ = rewrite_for_export(base, SHAPE, target="openvino")
    return {"model": model, "base": base}


@pytest.fixture(scope="module")
def exported(subject, tmp_path_factory):
    d = tmp_path_factory.mktemp("openvino")
    ex = torch.randn(1, *SHAPE)
    files, metas = {}, {}
    for prec in ("fp32", "fp16"):
        paths = [d / f"m0_{prec}.xml", d / f"m0_{prec}.bin"]
        metas[prec] = get_exporter("openvino").convert(subject["model"], ex, paths,
                                                       ExportOptions("openvino", precision=prec))
        files[prec] = paths
    return files, metas


def test_fp32_parity(subject, exported):
    files, metas = exported
    runner = open_runner(files["fp32"][0], threads=1)
    err, scale = rel_error(subject["model"], runner)
    assert scale > 0.1
    assert err <= 1e-4
    assert [s.shape for s in runner.inputs()] == [(1, 3, SIZE, SIZE)]
    assert [(s.name, s.shape) for s in runner.outputs()] == [("output", (1, 1000))]
    assert metas["fp32"]["frontend"] == "onnx"


def test_fp16_ir_is_smaller_and_close(subject, exported):
    files, metas = exported
    size = {p: sum(f.stat().st_size for f in files[p]) for p in files}
    assert 0.45 < size["fp16"] / size["fp32"] < 0.6
    err, _ = rel_error(subject["model"], open_runner(files["fp16"][0]))
    assert 0 < err <= 1e-2
    assert metas["fp16"]["weights_dtype"] == "float16"
    c = census(files["fp16"][0])
    assert c["ops"]["Convert"] > 0  # fp16 weights decompressed in the graph
    assert c["metadata"] == {"model": "micronet-m0", "precision": "fp16"}


def test_graph_madds_and_census(subject, exported):
    files, _ = exported
    c = census(files["fp32"][0], runtime=True)
    assert c["graph_madds"] == count_madds(subject["model"], SHAPE).conv_madds  # model + rewrite overhead
    assert c["gather"] == 0
    assert c["dynamic_weight_convs"] == 0
    # f32 inference precision: the CPU plugin would otherwise run bf16 where the CPU has it
    assert set(c["runtime"]["precisions"]) <= {"f32", "i32", "i64", "u8"}


def test_threads_honoured_and_read_back(exported):
    files, _ = exported
    for threads in (1, 2):
        runner = open_runner(files["fp32"][0], threads=threads)
        assert runner.property("INFERENCE_NUM_THREADS") == threads
        assert runner.property("NUM_STREAMS") == 1
        assert runner.property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_unknown_precision_is_refused_with_one_line(tmp_path, subject):
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="precision .bf16."):
        get_exporter("openvino").convert(subject["model"], torch.zeros(1, *SHAPE),
                                         [tmp_path / "m.xml", tmp_path / "m.bin"],
                                         ExportOptions("openvino", precision="bf16"))


def test_nhwc_input(subject, tmp_path):
    paths = [tmp_path / "m.xml", tmp_path / "m.bin"]
    meta = get_exporter("openvino").convert(subject["model"], torch.zeros(1, *SHAPE), paths,
                                            ExportOptions("openvino", nhwc=True))
    runner = open_runner(paths[0])
    assert meta["layout"] == "nhwc" and runner.inputs()[0].shape == (1, SIZE, SIZE, 3)
    x = np.random.default_rng(3).standard_normal((1, *SHAPE)).astype(np.float32)
    with torch.no_grad():
        ref = subject["model"](torch.from_numpy(x)).numpy()
    out = runner.run(x.transpose(0, 2, 3, 1))[0]
    assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()
    assert census(paths[0])["metadata"]["model"] == "micronet-m0"

"""TFLite target on the real LiteRT runtime: parity, delegate coverage, NHWC input, FP16 weights.

The subject is MicroNet-M0 at 64x64, rewritten for export by `rewrite_for_export` (the model the
exporter is built for), with BatchNorm statistics set from
data so outputs have a realistic scale. One conversion per variant, shared by the tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_litert")

from edgekit.analysis.census_tflite import census  # noqa: E402
from edgekit.analysis.flops import count_madds  # noqa: E402
from edgekit.exporters.base import ExportOptions, get_exporter  # noqa: E402
from edgekit.models import create_model  # noqa: E402
from edgekit.runtimes.base import open_runner  # noqa: E402
from edgekit.models.conditioning import condition_batchnorm
from edgekit.rewrite.pipeline import rewrite_for_export

pytestmark = pytest.mark.slow

SIZE = 64
SHAPE = (3, SIZE, SIZE)


def inputs(n=4, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, *SHAPE)).astype(np.float32) for _ in range(n)]


def rel_error(model, runner, nhwc=False) -> tuple[float, float]:
    """(max |torch − runtime| / output scale, output scale) over a few inputs."""
    refs, outs = [], []
    with torch.no_grad():
        for x in inputs():
            refs.append(model(torch.from_numpy(x)).numpy())
            outs.append(runner.run(x.transpose(0, 2, 3, 1) if nhwc else x)[0])
    scale = max(float(np.abs(r).max()) for r in refs)
    return max(float(np.abs(r - o).max()) for r, o in zip(refs, outs)) / scale, scale


@pytest.fixture(scope="module")
def subject():
    torch.manual_seed(0)
    base = condition_batchnorm(create_model("micronet-m0"), SHAPE, batches=2).eval()
    model, _ = rewrite_for_export(base, SHAPE, target="tflite")
    return {"model": model, "base": base}


@pytest.fixture(scope="module")
def exported(subject, tmp_path_factory):
    """Converted files by variant: fp32 NCHW, fp32 NHWC, fp16 NCHW."""
    d = tmp_path_factory.mktemp("tflite")
    ex = torch.from_numpy(inputs(1, seed=7)[0])
    files, metas = {}, {}
    for name, opts in {"fp32": ExportOptions("tflite"), "nhwc": ExportOptions("tflite", nhwc=True),
                       "fp16": ExportOptions("tflite", precision="fp16")}.items():
        path = d / f"m0_{name}.tflite"
        metas[name] = get_exporter("tflite").convert(subject["model"], ex, [path], opts)
        files[name] = path
    return files, metas


def test_fp32_parity_on_litert(subject, exported):
    files, _ = exported
    runner = open_runner(files["fp32"], threads=1)
    err, scale = rel_error(subject["model"], runner)
    assert scale > 0.1  # a realistic output scale, so the bound below means something
    assert err <= 1e-4
    assert [s.shape for s in runner.inputs()] == [(1, 3, SIZE, SIZE)]
    assert [s.shape for s in runner.outputs()] == [(1, 1000)]


def test_graph_madds_equal_the_model_count(subject, exported):
    files, _ = exported
    # Graph MAdds = the model's conv + linear MAdds + the rewrite overhead, i.e. exactly what
    # PyTorch counts on the module that was converted.
    assert census(files["fp32"])["graph_madds"] == count_madds(subject["model"], SHAPE).conv_madds


def test_one_xnnpack_partition_nothing_on_default_kernels(subject, exported):
    """Issue 4 acceptance: the rewritten MicroNet runs as ONE XNNPACK partition."""
    files, _ = exported
    for name in ("fp32", "nhwc", "fp16"):
        d = census(files[name])["delegate"]
        assert d["partitions"] == 1, (name, d)
        assert d["default_kernel_ops"] == 0, (name, d)
        assert d["fully_delegated"]


def test_nhwc_input_has_no_input_transpose(subject, exported):
    files, metas = exported
    runner = open_runner(files["nhwc"])
    assert [s.shape for s in runner.inputs()] == [(1, SIZE, SIZE, 3)]
    err, _ = rel_error(subject["model"], runner, nhwc=True)
    assert err <= 1e-4
    nchw, nhwc = census(files["fp32"]), census(files["nhwc"])
    # The input permute cancels against the layout transpose litert-torch puts in front of the first conv.
    assert nhwc["transpose"] == nchw["transpose"] - 1
    assert input_consumers(files["fp32"]) == ["TRANSPOSE"]
    assert "TRANSPOSE" not in input_consumers(files["nhwc"])
    assert nhwc["transpose"] < 56  # what is left are channel shuffles the rewrite keeps (stock M0: 56)
    assert metas["nhwc"]["layout"] == "nhwc"


def input_consumers(path) -> list[str]:
    from edgekit.analysis.census_tflite import op_list
    from edgekit.runtimes.litert_runner import make_interpreter

    it = make_interpreter(path, xnnpack=False)
    first = it.get_input_details()[0]["index"]
    return [op["op"] for op in op_list(it) if first in op["inputs"]]


def test_fp16_weights_half_size_and_parity(subject, exported):
    files, metas = exported
    ratio = files["fp16"].stat().st_size / files["fp32"].stat().st_size
    assert 0.45 < ratio < 0.56
    c = census(files["fp16"])
    assert c["ops"].get("DEQUANTIZE", 0) > 0  # fp16 weights, dequantized in the graph
    assert c["graph_madds"] == census(files["fp32"])["graph_madds"]
    err, _ = rel_error(subject["model"], open_runner(files["fp16"]))
    assert 0 < err <= 1e-2
    assert metas["fp16"]["weights_dtype"] == "float16"


def test_metadata_embedded(exported):
    files, metas = exported
    assert metas["fp16"]["metadata_embedded"]
    meta = json.loads(census(files["fp16"])["metadata"]["edgekit"])
    assert meta["model"] == "micronet-m0" and meta["precision"] == "fp16" and meta["layout"] == "nchw"
    assert meta["card"]["madds_target"] == 4_000_000


def test_unknown_precision_is_refused_with_one_line(tmp_path, subject):
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="precision .bf16."):
        get_exporter("tflite").convert(subject["model"], torch.zeros(1, *SHAPE), [tmp_path / "m.tflite"],
                                       ExportOptions("tflite", precision="bf16"))


def test_stock_m0_at_224_census_matches_the_measured_figures(tmp_path):
    """The unmodified reference MicroNet-M0 at 224, as measured here before edgekit (shared/FACTS.md)."""
    model = create_model("micronet-m0")
    path = tmp_path / "stock.tflite"
    get_exporter("tflite").convert(model, torch.zeros(1, 3, 224, 224), [path], ExportOptions("tflite"))
    c = census(path)
    assert (c["transpose"], c["reshape"], c["ops"]["GATHER_ND"]) == (56, 83, 15)
    assert c["delegate"]["partitions"] == 16
    assert c["delegate"]["default_kernel_by_type"] == {"GATHER_ND": 15}
    assert c["delegate"]["delegated_ops"] + c["delegate"]["default_kernel_ops"] == c["nodes"]
    assert c["graph_madds"] == 3_448_880  # conv + linear MAdds of MicroNet-M0 at 224, exactly

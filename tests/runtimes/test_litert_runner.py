"""LiteRTRunner on the real ai-edge-litert interpreter with XNNPACK, on a small converted model."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from edgekit.errors import EdgekitError  # noqa: E402
from edgekit.runtimes.base import open_runner, random_inputs  # noqa: E402
from edgekit.runtimes.litert_runner import LiteRTRunner, _spec  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """conv → relu → global mean → linear, converted by litert-torch, and its PyTorch reference."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("litert_torch")
    from edgekit.exporters.tflite import litert_convert

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5),
    ).eval()
    path = tmp_path_factory.mktemp("litert") / "tiny.tflite"
    path.write_bytes(litert_convert(model, torch.zeros(1, 3, 16, 16)))
    return path, model


def test_specs_and_run_match_pytorch(tiny):
    import torch

    path, model = tiny
    runner = open_runner(path, threads=1)
    assert isinstance(runner, LiteRTRunner) and runner.runtime == "litert"
    (i,), (o,) = runner.inputs(), runner.outputs()
    assert (i.shape, i.dtype, i.quantization) == ((1, 3, 16, 16), "float32", None)
    assert (o.shape, o.dtype) == ((1, 5), "float32")
    x = random_inputs(runner.inputs(), seed=3)[0]
    (y,) = runner.run(x)
    ref = model(torch.from_numpy(x)).detach().numpy()
    assert np.abs(y - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_thread_count_is_honoured(tiny):
    """XNNPACK's pool adds threads − 1 workers to the process (the caller's thread is the first)."""
    path, _ = tiny

    def threads_now():
        return len(os.listdir("/proc/self/task"))

    for threads in (1, 3):
        before = threads_now()
        runner = LiteRTRunner(path, threads=threads)
        runner.run(*random_inputs(runner.inputs()))
        assert threads_now() - before == threads - 1
        del runner


def test_all_ops_delegated_and_reference_kernels_agree(tiny):
    from edgekit.analysis.census_tflite import census

    path, _ = tiny
    c = census(path)
    assert c["delegate"]["partitions"] == 1 and c["delegate"]["default_kernel_ops"] == 0
    assert c["graph_madds"] == 16 * 16 * 8 * 27 + 5 * 8
    x = random_inputs(LiteRTRunner(path).inputs(), seed=1)[0]
    with_xnn = LiteRTRunner(path).run(x)[0]
    without = LiteRTRunner(path, xnnpack=False).run(x)[0]
    assert np.abs(with_xnn - without).max() <= 1e-5 * np.abs(without).max()


def test_bad_shape_and_bad_file_are_one_line_errors(tiny, tmp_path):
    path, _ = tiny
    runner = LiteRTRunner(path)
    with pytest.raises(EdgekitError, match=r"has shape \(1, 3, 16, 16\)"):
        runner.run(np.zeros((1, 16, 16, 3), np.float32))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(EdgekitError, match="LiteRT cannot load"):
        open_runner(junk)
    with pytest.raises(EdgekitError, match="at least 1"):
        LiteRTRunner(path, threads=0)


def test_integer_tensor_spec_carries_scale_and_zero_point():
    d = {"name": "q", "shape": np.array([1, 4]), "dtype": np.int8, "quantization": (0.05, -3)}
    assert _spec(d).quantization == (0.05, -3)
    assert _spec({**d, "dtype": np.float32}).quantization is None

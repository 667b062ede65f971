"""Parity metrics (exact numbers) and parity measured on a real onnxruntime session."""

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.analysis.parity import (STRUCTURED_ORDER, compare, dequantize, measure_parity, parity_inputs, quantize,
                                     structured_inputs, to_runner_input)
from edgekit.analysis.reference import reference_samples
from edgekit.runtimes.base import TensorSpec, open_runner


def test_compare_exact_numbers():
    refs = [np.array([[1.0, 2.0, 4.0]]), np.array([[0.0, 3.0, -1.0]])]
    outs = [np.array([[1.0, 2.0, 4.5]]), np.array([[3.5, 3.0, -1.0]])]
    p = compare(refs, outs, tolerance=1e-4)
    assert p.max_abs_diff == 3.5
    assert p.output_scale == 4.0
    assert p.rel_max_abs_diff == 0.875
    assert p.top1_agreement == 0.5  # the second input's argmax moved from 1 to 0
    cos2 = (0 * 3.5 + 9 + 1) / (np.sqrt(10) * np.sqrt(3.5**2 + 10))
    assert p.cosine == pytest.approx(cos2, abs=1e-12)
    assert p.n_inputs == 2 and not p.ok
    assert compare(refs, refs, tolerance=1e-4).ok
    assert compare(refs, outs).ok  # no tolerance (INT8): nothing to exceed


def test_inputs_mix_random_and_structured():
    xs = parity_inputs((3, 16, 12), n=8, seed=0)
    assert len(xs) == 8 and all(x.shape == (1, 3, 16, 12) and x.dtype == np.float32 for x in xs)
    structured = structured_inputs((3, 16, 12))
    for a, b in zip(xs[4:], [structured[i] for i in STRUCTURED_ORDER]):
        np.testing.assert_array_equal(a, b)
    assert np.abs(xs[4]).max() == 2.5 and np.all(xs[5] == 0)  # the saturating checkerboard, then the mean image
    assert all(np.abs(x).max() <= 2.5 for x in structured)
    assert len({x.tobytes() for x in xs}) == 8
    np.testing.assert_array_equal(parity_inputs((3, 16, 12), n=8, seed=0)[0], xs[0])  # deterministic
    assert len(parity_inputs((3, 8, 8), n=1)) == 1


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_parity_inputs_cover_the_stored_reference_inputs(n):
    """The export's parity check sees the inputs a device's --parity replays (a 4-input check once
    passed an OpenVINO FP16 IR at 6e-03 x scale that the reference checkerboard showed at 1.5e-01)."""
    xs = {x.tobytes() for x in parity_inputs((3, 16, 12), n=n)}
    refs = reference_samples((3, 16, 12))
    assert len(refs) == 2 and all(r.tobytes() in xs for r in refs)


def test_int8_io_and_nhwc_conversion():
    x = np.linspace(-1.0, 1.0, 2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
    spec = TensorSpec("input", (1, 3, 4, 2), "uint8", (0.01, 128))
    feed, ref = to_runner_input(x, spec, nhwc=True)
    assert feed.dtype == np.uint8 and feed.shape == (1, 3, 4, 2)
    assert feed[0, 0, 0, 0] == 28 and feed[0, 2, 3, 1] == 228  # -1.0 → 128 - 100, +1.0 → 128 + 100
    assert ref.shape == (1, 2, 3, 4)
    np.testing.assert_allclose(ref, x, atol=0.005 + 1e-7)  # PyTorch sees the dequantized image
    np.testing.assert_array_equal(quantize(np.array([5.0, -5.0]), 0.01, 0, np.int8), [127, -128])
    np.testing.assert_allclose(dequantize(np.array([28], np.uint8), 0.01, 128), [-1.0])
    with pytest.raises(ValueError, match="expected"):
        to_runner_input(x, TensorSpec("input", (1, 2, 3, 4), "float32"), nhwc=True)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class _ChannelsLast(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


def _export(model, example, path):
    torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["input"], output_names=["logits"])
    return open_runner(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_parity_on_onnxruntime_detects_layout_and_wrong_weights(tmp_path):
    model = _Tiny().eval()
    runner = _export(_ChannelsLast(model), torch.zeros(1, 10, 12, 3), tmp_path / "nhwc.onnx")
    p = measure_parity(model, runner, (3, 10, 12), n=6)  # layout read from the runner's (1, 10, 12, 3)
    assert p.ok and p.rel_max_abs_diff < 1e-5 and p.cosine > 0.999999 and p.top1_agreement == 1.0
    assert p.n_inputs == 6

    other = _Tiny().eval()  # different random weights: a broken export must not pass
    runner = _export(other, torch.zeros(1, 3, 10, 12), tmp_path / "other.onnx")
    bad = measure_parity(model, runner, (3, 10, 12), n=6)
    assert not bad.ok and bad.rel_max_abs_diff > 0.1 and bad.cosine < 0.99


def test_parity_on_given_samples(tmp_path):
    """INT8 exports are judged on their calibration data: given samples replace the random ones."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    path = tmp_path / "tiny.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False, input_names=["input"])
    runner = open_runner(path)
    samples = np.full((3, 3, 8, 8), 10.0, dtype=np.float32)  # far from the standard-normal inputs
    p = measure_parity(model, runner, (3, 8, 8), n=8, inputs=samples)
    assert p.n_inputs == 3
    with torch.no_grad():
        expected_scale = float(model(torch.from_numpy(samples)).abs().max())
    assert p.output_scale == pytest.approx(expected_scale, rel=1e-6)
    assert p.max_abs_diff < 1e-4 * expected_scale


def test_a_single_sequence_input_gets_sequence_patterns():
    """A one-input model whose input is a feature sequence (C, T) — `--input m=60,64` — once crashed parity with
    an image unpack; it gets the per-kind sequence patterns, deterministic and distinct."""
    from edgekit.analysis.parity import parity_inputs, structured_inputs

    pats = structured_inputs((60, 64))
    assert [p.shape for p in pats] == [(1, 60, 64)] * 4 and len({p.tobytes() for p in pats}) == 4
    xs = parity_inputs((60, 64), n=4)
    assert [x.shape for x in xs] == [(1, 60, 64)] * 4 and all(x.dtype == np.float32 for x in xs)


def test_float32_noise_tells_an_ill_conditioned_model_from_a_sound_one():
    """The model's own float32 error (vs its float64 run), which a failed FP32 parity is set against: a sum that
    cancels 1e6 loses ~1e-2 of its scale in float32; a small conv net stays at ~1e-7."""
    from edgekit.analysis.parity import float32_noise

    class Cancels(nn.Module):
        def forward(self, x):
            return (x + 1e6) - 1e6

    torch.manual_seed(0)
    sound = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1)).eval()
    assert float32_noise(Cancels(), (3, 8, 8), n=4) > 1e-3
    assert float32_noise(sound, (3, 8, 8), n=4) < 1e-5

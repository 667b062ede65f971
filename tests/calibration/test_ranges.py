"""edgekit's own range search (percentile, KL entropy) on distributions whose answer is known."""

import numpy as np
import pytest

from edgekit.calibration.ranges import RangeCollector, kl_threshold, percentile_threshold


def _gaussian_with_outliers(n=200_000, seed=0):
    x = np.random.default_rng(seed).standard_normal(n)
    x[:5] = [1000.0, -900.0, 800.0, 950.0, -1000.0]  # 5 in 200k: 25 ppm of huge outliers
    return x


def _range(method, *arrays):
    return RangeCollector(method).collect(lambda: ({"t": a} for a in arrays))["t"]


def test_outliers_set_minmax_but_not_entropy_or_percentile():
    x = _gaussian_with_outliers()
    assert _range("minmax", x) == (-1000.0, 1000.0)
    lo, hi = _range("percentile", x)
    # 99.99th percentile of |N(0,1)| is 3.89; the histogram bin is 1000/65536 wide
    assert lo == -hi and hi == pytest.approx(3.89, abs=0.1)
    lo, hi = _range("entropy", x)
    # KL keeps the bulk: several sigma, far below the outliers (measured 4.17)
    assert lo == -hi and 3.0 < hi < 6.0


def test_entropy_does_not_clip_a_distribution_without_tails():
    u = np.random.default_rng(1).uniform(-1.0, 1.0, 200_000)
    lo, hi = _range("entropy", u)
    assert lo < -0.99 and hi > 0.99  # clipping a uniform only loses information


def test_one_signed_tensor_keeps_its_minimum_and_uses_all_levels():
    rng = np.random.default_rng(2)
    relu = np.maximum(rng.standard_normal(200_000), 0.0)
    relu[:3] = 500.0
    lo, hi = _range("entropy", relu)
    # exact zeros (half the samples) are left out of the histogram; the ReLU spike would
    # otherwise pull the threshold down to the first candidate (1.95 measured before that)
    assert lo == 0.0 and 3.0 < hi < 6.0


def test_two_pass_collection_over_many_samples_equals_one_batch():
    x = _gaussian_with_outliers()
    parts = np.array_split(x, 7)
    for method in ("minmax", "percentile", "entropy"):
        assert _range(method, *parts) == pytest.approx(_range(method, x))


def test_threshold_functions_on_hand_made_histograms():
    width = 0.01
    centers = (np.arange(4096) + 0.5) * width
    hist = np.round(1e6 * np.exp(-centers ** 2 / 2))  # |N(0, 1)| density, empty beyond ~5.3 sigma
    hist[-1] = 10.0  # a few samples at 41 sigma, where the histogram ends
    assert 3.0 < kl_threshold(hist, width) < 6.0
    flat = np.ones(1000)
    assert percentile_threshold(flat, width, 50.0) == pytest.approx(5.0, abs=width)
    assert percentile_threshold(flat, width, 100.0) == pytest.approx(10.0)
    # a flat, gap-free histogram quantizes without loss at full range: KL sees nothing to clip
    assert kl_threshold(flat, width) == pytest.approx(10.0)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown range method"):
        RangeCollector("kl")

"""Activation ranges from calibration statistics: min/max, percentile, and KL-divergence (entropy).

Used where a quantizer has no such calibrator of its own (NNCF, ai-edge-quantizer): the float
model's activations are collected on the target runtime, and the range each tensor should be
quantized to is chosen here. Numpy only.

The entropy method is the classic threshold search: build a fine histogram of |x|, and for each
candidate threshold T compare the reference distribution P (the histogram up to T, with everything
beyond T clipped into the last bin) with Q (the same bins squeezed into the number of 8-bit levels
available and spread back over the bins that were non-empty). The T with the smallest KL(P || Q)
balances clipping error against rounding error. Exact zeros are left out of the histogram (zero is
exact at any range; the spike of a ReLU output would otherwise dominate the first level). Percentile takes the |x| value below which a given
fraction of the samples falls. Both thresholds are symmetric in |x|; a tensor that never goes
negative (after a ReLU) gets all 256 levels on [0, T], a signed one 128 per side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

METHODS = ("minmax", "percentile", "entropy")
FINE_BINS = 1 << 16  # |x| histogram resolution: a 1000x outlier still leaves the bulk ~65 bins
REFERENCE_BINS = 2048  # P is compared at most at this resolution
CANDIDATES = 256  # thresholds tried, geometrically spaced from the first 8-bit-wide cut to the max
PERCENTILE = 99.99


def kl_threshold(hist: np.ndarray, bin_width: float, levels: int = 128, candidates: int = CANDIDATES,
                 reference_bins: int = REFERENCE_BINS) -> float:
    """The |x| threshold minimising KL(P || Q) for a histogram of |x| over [0, len(hist)·bin_width).

    `levels`: quantization levels on [0, T] (128 for a signed tensor in 8 bits, 255 for a one-signed one).
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = len(hist)
    total = hist.sum()
    if total <= 0 or n <= levels:
        return float(n * bin_width)
    cum = np.concatenate([[0.0], np.cumsum(hist)])
    nonzero_cum = np.concatenate([[0], np.cumsum(hist > 0)])
    ends = np.unique(np.geomspace(levels, n, candidates).round().astype(int))
    best_kl, best_end = np.inf, n
    for end in ends:  # keep the first `end` fine bins
        m = min(int(end), reference_bins)
        edges = (np.arange(m + 1) * int(end)) // m
        p = cum[edges[1:]] - cum[edges[:-1]]  # reference histogram at resolution m
        occupied = (nonzero_cum[edges[1:]] - nonzero_cum[edges[:-1]]) > 0
        chunk = (np.arange(m) * levels) // m  # which 8-bit level each reference bin falls into
        sums = np.bincount(chunk, weights=p, minlength=levels)
        counts = np.bincount(chunk, weights=occupied, minlength=levels)
        q = np.where(occupied, sums[chunk] / np.maximum(counts[chunk], 1), 0.0)
        p = p.copy()
        p[-1] += total - cum[end]  # clipped mass lands in the last bin
        if p.sum() <= 0:
            continue
        p /= p.sum()
        q_sum = q.sum()
        if q_sum <= 0:
            continue
        q /= q_sum
        mask = p > 0
        kl = float(np.sum(p[mask] * np.log(p[mask] / np.maximum(q[mask], 1e-12))))
        if kl < best_kl:
            best_kl, best_end = kl, int(end)
    return float(best_end * bin_width)


def percentile_threshold(hist: np.ndarray, bin_width: float, percentile: float = PERCENTILE) -> float:
    """The |x| value below which `percentile` % of the histogram's mass lies (upper bin edge)."""
    cum = np.cumsum(np.asarray(hist, dtype=np.float64))
    if cum[-1] <= 0:
        return 0.0
    i = int(np.searchsorted(cum, cum[-1] * percentile / 100.0))
    return float(min(i + 1, len(cum)) * bin_width)


@dataclass
class _Stats:
    lo: float = np.inf
    hi: float = -np.inf
    hist: np.ndarray | None = field(default=None, repr=False)
    width: float = 0.0


class RangeCollector:
    """Per-tensor ranges over a calibration set, in two passes for histogram methods.

        rc = RangeCollector("entropy")
        ranges = rc.collect(lambda: (activations(x) for x in calib))   # {name: (lo, hi)}

    `samples()` must yield {tensor name: float array} once per sample and may be called twice.
    """

    def __init__(self, method: str, percentile: float = PERCENTILE, bins: int = FINE_BINS):
        if method not in METHODS:
            raise ValueError(f"unknown range method {method!r}; choose from {', '.join(METHODS)}")
        self.method, self.percentile, self.bins = method, percentile, bins
        self.stats: dict[str, _Stats] = {}

    def observe_range(self, name: str, x: np.ndarray) -> None:
        s = self.stats.setdefault(name, _Stats())
        x = np.asarray(x)
        if x.size:
            s.lo, s.hi = min(s.lo, float(x.min())), max(s.hi, float(x.max()))

    def observe_histogram(self, name: str, x: np.ndarray) -> None:
        s = self.stats[name]
        if s.hist is None:
            s.width = max(abs(s.lo), abs(s.hi)) / self.bins or 1.0
            s.hist = np.zeros(self.bins, dtype=np.int64)
        a = np.abs(np.asarray(x, dtype=np.float64)).ravel()
        a = a[a != 0]  # exact zeros (ReLU outputs, padding) are exact at any range: they carry no error
        idx = np.minimum((a / s.width).astype(np.int64), self.bins - 1)
        s.hist += np.bincount(idx, minlength=self.bins)

    def collect(self, samples: Callable[[], Iterable[dict]]) -> dict[str, tuple[float, float]]:
        for acts in samples():
            for name, x in acts.items():
                self.observe_range(name, x)
        if self.method != "minmax":
            for acts in samples():
                for name, x in acts.items():
                    if name in self.stats:
                        self.observe_histogram(name, x)
        return self.ranges()

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {name: self.range_of(s) for name, s in self.stats.items() if np.isfinite(s.lo)}

    def range_of(self, s: _Stats) -> tuple[float, float]:
        if self.method == "minmax" or s.hist is None:
            return s.lo, s.hi
        one_signed = s.lo >= 0 or s.hi <= 0
        if self.method == "percentile":
            t = percentile_threshold(s.hist, s.width, self.percentile)
        else:
            t = kl_threshold(s.hist, s.width, levels=255 if one_signed else 128)
        return max(s.lo, -t), min(s.hi, t)


def describe(method: str) -> str:
    """One line for reports: what edgekit's own range search did."""
    return {
        "minmax": "min/max over the calibration set",
        "percentile": f"edgekit percentile: {PERCENTILE}th percentile of |x| over the calibration set "
                      f"({FINE_BINS}-bin histogram)",
        "entropy": f"edgekit entropy: KL-divergence threshold search on a {FINE_BINS}-bin |x| histogram "
                   f"({CANDIDATES} candidate thresholds, 128 levels per side, 255 for one-signed tensors)",
    }[method]

"""Calibration and evaluation data: sources (image folder, .npy/.npz, synthetic), the card's
preprocessing, deterministic sampling.

    x, labels = load_calibration("images/", card, size=256)

`x` is (N, C, H, W) float32 preprocessed per the card; `labels` come from class sub-folders or
the file's `y` array, else None. `edgekit.calibration.ranges` turns activations collected on
such data into quantization ranges (min/max, percentile, KL entropy).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edgekit.calibration.preprocess import Preprocess
from edgekit.calibration.sources import CalibrationSet, from_arrays, from_folder, synthetic
from edgekit.errors import EdgekitError

SYNTHETIC = "synthetic"


def load_calibration_set(path, card, size: int | None = None, seed: int = 0, progress: bool | None = None,
                         **preprocess_overrides) -> CalibrationSet:
    """Load, sample (the same `size` items for the same `seed`) and preprocess a calibration source.

    `preprocess_overrides` replace the card's values (resize, mean, std, interpolation, size).
    """
    if size is not None and size <= 0:
        raise EdgekitError(f"--calib-size must be positive, got {size}")
    pre = Preprocess.from_card(card, **preprocess_overrides)
    if progress is None:
        progress = sys.stderr.isatty()
    rng = np.random.default_rng(seed)
    if str(path) == SYNTHETIC:
        return synthetic(pre, size, seed)
    p = Path(path)
    if p.is_dir():
        return from_folder(p, pre, size, rng, progress)
    if not p.exists():
        raise EdgekitError(f"calibration data not found: {p} (give an image folder, a .npy/.npz file, or 'synthetic')")
    if p.suffix.lower() in (".npy", ".npz"):
        return from_arrays(p, pre, size, rng)
    raise EdgekitError(f"{p}: calibration data must be an image folder or a .npy/.npz file")


def load_calibration(path, card, size: int | None = None, seed: int = 0, **kw) -> tuple[np.ndarray, np.ndarray | None]:
    """(x float32 NCHW, labels or None): see `load_calibration_set`."""
    s = load_calibration_set(path, card, size=size, seed=seed, **kw)
    return s.x, s.labels


__all__ = ["CalibrationSet", "Preprocess", "SYNTHETIC", "load_calibration", "load_calibration_set"]

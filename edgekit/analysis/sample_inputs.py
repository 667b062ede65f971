"""Sample inputs per input kind, for parity, references and random benchmarking (numpy only).

Each input of an IO spec gets inputs that look like its kind: images the structured patterns of
edgekit.analysis.parity (flat, ramp, checkerboard, texture) and seeded normals; flows smooth
two-channel fields; feature sequences sinusoids over time; token ids integers inside the input's
range (never normalised, never outside the vocabulary). A set is a list of samples, each a tuple of
batch-1 arrays in the spec's input order.
"""

from __future__ import annotations

import numpy as np

from edgekit.models.io_spec import InputSpec, IOSpec


def token_range(spec: InputSpec) -> tuple[int, int]:
    lo, hi = spec.range if spec.range is not None else (0, 2)
    return int(lo), max(int(lo) + 1, int(hi))


def random_input(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    shape = (1, *spec.shape)
    if spec.is_integer:
        lo, hi = token_range(spec)
        return rng.integers(lo, hi, size=shape).astype(spec.dtype)
    return rng.standard_normal(shape).astype(np.float32)


def structured_input(spec: InputSpec, k: int) -> np.ndarray:
    """The k-th deterministic non-random input of `spec` (k = 0, 1, 2, 3)."""
    from edgekit.analysis.parity import STRUCTURED_ORDER, structured_inputs

    shape = tuple(spec.shape)
    if spec.is_integer:
        lo, hi = token_range(spec)
        n = int(np.prod(shape))
        patterns = [np.full(n, lo), np.full(n, hi - 1), lo + np.arange(n) % (hi - lo), hi - 1 - np.arange(n) % (hi - lo)]
        return patterns[k % 4].reshape((1, *shape)).astype(spec.dtype)
    if spec.kind in ("image", "clip", "mask") and len(shape) in (3, 4):
        return structured_inputs(shape)[STRUCTURED_ORDER[k % 4]]
    if spec.kind == "flow" and len(shape) == 3:  # a smooth rotation + translation field, then a saturating one
        c, h, w = shape
        yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
        fields = [np.stack([-yy, xx] * (c // 2) + [xx] * (c % 2)) * 2.0,
                  np.stack([np.sign(np.sin(6 * xx)), np.sign(np.cos(6 * yy))] * (c // 2) + [xx] * (c % 2)) * 2.5,
                  np.zeros((c, h, w)), np.ones((c, h, w)) * 0.5]
        return fields[k % 4][None].astype(np.float32)
    # sequences and anything else: sinusoids along the last axis, a different frequency per row
    n_last = shape[-1]
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    t = np.linspace(0, 1, n_last)[None]
    f = (1 + np.arange(rows))[:, None]
    patterns = [2.0 * np.sin(2 * np.pi * f * t), np.zeros((rows, n_last)), 2.5 * np.sign(np.sin(4 * np.pi * f * t)),
                np.cos(np.pi * f * t)]
    return patterns[k % 4].reshape((1, *shape)).astype(np.float32)


def sample_set(io: IOSpec, n: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """`n` samples: seeded random ones, then structured ones for half of them (as parity_inputs)."""
    n_struct = n // 2
    rng = np.random.default_rng(seed)
    rand = [tuple(random_input(s, rng) for s in io.inputs) for _ in range(n - n_struct)]
    struct = [tuple(structured_input(s, k) for s in io.inputs) for k in range(n_struct)]
    return rand + struct

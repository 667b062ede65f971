"""The global average pool the static forms use for their hyper-functions, kept (1, C, 1, 1).

`adaptive_avg_pool2d(x, 1)` exports as ONNX GlobalAveragePool (which onnxruntime runs in its
blocked NCHWc layout, so no reorder is inserted around it) and as MEAN in LiteRT; `x.mean((2, 3))`
exports as ReduceMean. Measured on M0 at 224, 1 thread, in one run: no difference on either
runtime (onnxruntime 0.999 vs 0.999 of stock, LiteRT 0.933 vs 0.936), so the op the stock model
uses is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FORM = {"value": "gap"}  # "gap" | "mean"


def global_pool(x):
    if FORM["value"] == "mean":
        return x.mean((2, 3), keepdim=True)
    return F.adaptive_avg_pool2d(x, 1)


def hyper_coefficients(m, x):
    """Shift-Max coefficients, (1, n, 1, 1): pool → conv1 → ReLU → conv2 → clip(0, width) + lo.

    4-D throughout. A 2-D variant (Gemm on the (1, C) vector, as the stock export has) measured
    0.988x vs 0.996x of stock on onnxruntime for M0 (noise level) and would cost LiteRT layout
    transposes, so there is only this one.
    """
    h = torch.relu(m.conv1(global_pool(x)))
    return torch.clamp(m.conv2(h), 0.0, m.clip_max) + m.lo

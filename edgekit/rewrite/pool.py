"""The global average pool the static forms use for their hyper-functions, kept (1, C, 1, 1).

`adaptive_avg_pool2d(x, 1)` exports as ONNX GlobalAveragePool (which onnxruntime runs in its
blocked NCHWc layout, so no reorder is inserted around it) and as MEAN in LiteRT; `x.mean((2, 3))`
exports as ReduceMean. Measured on M0 at 224, 1 thread, in one run: no difference on either
runtime (onnxruntime 0.999 vs 0.999 of stock, LiteRT 0.933 vs 0.936), so the op the stock model
uses is kept.
"""

from __future__ import annotations

import torch.nn.functional as F

FORM = {"value": "gap"}  # "gap" | "mean"


def global_pool(x):
    if FORM["value"] == "mean":
        return x.mean((2, 3), keepdim=True)
    return F.adaptive_avg_pool2d(x, 1)

"""Accuracy on labeled data (top-1 / top-5) and the error of one tensor against its float reference.

Works on any Runner (numpy in, numpy out), so an exported file is evaluated on its own runtime,
and on a PyTorch module through `torch_predict`. Integer-I/O models are fed through their
(scale, zero_point). No torch import at module level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Accuracy:
    top1: float  # percent
    top5: float  # percent
    n: int
    correct1: int
    correct5: int

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "n": self.n, "correct1": self.correct1, "correct5": self.correct5}


def topk_accuracy(logits: np.ndarray, labels: np.ndarray) -> Accuracy:
    logits = np.asarray(logits, dtype=np.float64).reshape(len(labels), -1)
    labels = np.asarray(labels).reshape(-1)
    k = min(5, logits.shape[1])
    # stable ordering: ties broken by class index, identical for every runtime
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    c1 = int((top[:, 0] == labels).sum())
    c5 = int((top == labels[:, None]).any(axis=1).sum())
    n = len(labels)
    return Accuracy(100.0 * c1 / n, 100.0 * c5 / n, n, c1, c5)


def quantize_input(x: np.ndarray, spec) -> np.ndarray:
    """Float → the integer input a quantized model expects (its TensorSpec carries scale/zero point)."""
    dt = np.dtype(spec.dtype)
    if np.issubdtype(dt, np.floating):
        return x.astype(dt)
    if spec.quantization is None:
        raise ValueError(f"input {spec.name} is {spec.dtype} without a quantization scale")
    scale, zp = spec.quantization
    info = np.iinfo(dt)
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(dt)


def dequantize_output(y: np.ndarray, spec) -> np.ndarray:
    if np.issubdtype(y.dtype, np.floating) or spec.quantization is None:
        return y.astype(np.float32)
    scale, zp = spec.quantization
    return ((y.astype(np.float32) - zp) * scale).astype(np.float32)


def runner_predict(runner, x: np.ndarray, progress=None) -> np.ndarray:
    """Logits (N, classes) of a Runner on preprocessed NCHW float `x`, one sample at a time.

    A channels-last model (input shape (1, H, W, C)) gets the batch transposed once.
    """
    (ispec,), ospec = runner.inputs(), runner.outputs()[0]
    from edgekit.layouts import match_layout

    x = np.ascontiguousarray(match_layout(x, ispec.shape))
    batch = ispec.shape[0] if ispec.shape and ispec.shape[0] > 0 else 1
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch]
        if len(chunk) < batch:  # fixed-batch model: pad the tail
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)])
        y = runner.run(quantize_input(chunk, ispec))[0]
        out.append(dequantize_output(y, ospec).reshape(batch, -1))
        if progress is not None:
            progress(min(i + batch, len(x)))
    return np.concatenate(out)[: len(x)]


def torch_predict(model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    import torch

    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).float().numpy())
    return np.concatenate(outs).reshape(len(x), -1)


def tensor_error(ref: np.ndarray, test: np.ndarray) -> dict:
    """Cosine similarity and max abs error of `test` against float `ref` (flattened over the batch)."""
    a = np.asarray(ref, np.float64).ravel()
    b = np.asarray(test, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(a @ b / (na * nb)) if na > 0 and nb > 0 else float(na == nb)
    return {"cosine": cos, "max_abs_err": float(np.max(np.abs(a - b))) if a.size else 0.0,
            "ref_max_abs": float(np.max(np.abs(a))) if a.size else 0.0}

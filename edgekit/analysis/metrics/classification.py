"""Classification: top-1 / top-5 (percent) of the logits against integer labels `y` (N,)."""

from __future__ import annotations

import numpy as np

from edgekit.analysis.accuracy import topk_accuracy

GROUND_TRUTH = ("y",)
OUTPUTS = ("logits",)  # a single-output model's one output is taken whatever its name


def logits_of(outputs: dict) -> np.ndarray:
    return outputs["logits"] if "logits" in outputs else next(iter(outputs.values()))


def evaluate(outputs: dict, ground_truth: dict) -> dict:
    logits = logits_of(outputs)
    return topk_accuracy(logits.reshape(len(logits), -1), ground_truth["y"]).to_dict()


def check(outputs: dict, ground_truth: dict, n: int) -> None:
    from edgekit.errors import EdgekitError

    y = np.asarray(ground_truth["y"])
    classes = int(np.prod(logits_of(outputs).shape[1:]))
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise EdgekitError(f"y must be (N,) integer labels for the {n} samples; got {y.dtype} {y.shape}")
    if n and (y.min() < 0 or y.max() >= classes):
        raise EdgekitError(f"labels go up to {int(y.max())} but the model has {classes} classes")

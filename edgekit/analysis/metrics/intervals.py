"""1-D intervals (start, end): the temporal IoU and greedy NMS shared by detection and moment retrieval."""

from __future__ import annotations

import numpy as np


def temporal_iou(segment, segments) -> np.ndarray:
    """tIoU of one (start, end) against each row of `segments` (K, 2); 0 where the union is empty."""
    s = np.asarray(segments, np.float64).reshape(-1, 2)
    a0, a1 = float(segment[0]), float(segment[1])
    inter = np.clip(np.minimum(a1, s[:, 1]) - np.maximum(a0, s[:, 0]), 0.0, None)
    union = (a1 - a0) + (s[:, 1] - s[:, 0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def score_order(scores) -> np.ndarray:
    """Indices by descending score; ties keep their index order, so every runtime ranks alike."""
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def nms_1d(segments, scores, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Greedy NMS: take the best-scored segment, drop those with tIoU > `iou_threshold` with it, repeat.

    Returns the kept indices, best first. `iou_threshold` >= 1 keeps everything (only sorts).
    """
    segs = np.asarray(segments, np.float64).reshape(-1, 2)
    order = score_order(scores)
    keep: list[int] = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[temporal_iou(segs[i], segs[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)

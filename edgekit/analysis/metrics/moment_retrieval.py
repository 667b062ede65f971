"""Moment retrieval (Charades-STA / DiDeMo): R@k at IoU thresholds.

Per query, the candidate moments are ranked by score (optionally NMS'd first, as the papers that
report "R@5" after NMS do); the query counts as recalled at (k, t) when one of its top-k moments
has IoU >= t with the ground-truth moment. R@k,IoU=t is the fraction of recalled queries (percent).

Model outputs (docs/tasks.md): `scores` (N, A) and `moments` (N, A, 2) (start, end), or scores
only with a fixed anchor list (A, 2) shared by every query (the sidecar's task.moment_anchors).
"""

from __future__ import annotations

import numpy as np

from edgekit.analysis.metrics.intervals import nms_1d, score_order, temporal_iou

KS = (1, 5)
IOU_THRESHOLDS = (0.5, 0.7)
GROUND_TRUTH = ("gt_moment",)
OUTPUTS = ("scores", "moments")


def recall_at_k(scores, moments, gt_moment, ks=KS, iou_thresholds=IOU_THRESHOLDS,
                nms_iou: float | None = None) -> dict:
    """{"R@k,IoU=t": percent} for every k and t; `moments` (N, A, 2) or one anchor list (A, 2)."""
    scores = np.asarray(scores, np.float64)
    scores = scores.reshape(len(scores), -1)  # (N, A, 1) or (N, A): one score per candidate either way
    moments = np.asarray(moments, np.float64)
    gt = np.asarray(gt_moment, np.float64).reshape(-1, 2)
    if moments.ndim == 2:
        moments = np.broadcast_to(moments, scores.shape + (2,))
    hits = np.zeros((len(ks), len(iou_thresholds)))
    for q in range(len(gt)):
        ranked = score_order(scores[q]) if nms_iou is None else nms_1d(moments[q], scores[q], nms_iou)
        iou = temporal_iou(gt[q], moments[q][ranked])
        for i, k in enumerate(ks):
            best = iou[:k].max() if k and len(iou) else 0.0
            hits[i] += [best >= t for t in iou_thresholds]
    n = max(len(gt), 1)
    return {f"R@{k},IoU={t}": round(100.0 * float(hits[i, j]) / n, 4) for i, k in enumerate(ks)
            for j, t in enumerate(iou_thresholds)}


def evaluate(outputs: dict, ground_truth: dict, nms_iou: float | None = None, anchors=None) -> dict:
    moments = outputs["moments"] if "moments" in outputs else anchors
    result = recall_at_k(outputs["scores"], moments, ground_truth["gt_moment"], nms_iou=nms_iou)
    return {**result, "queries": int(len(ground_truth["gt_moment"])), "nms_iou": nms_iou}


def check(outputs: dict, ground_truth: dict, n: int, anchors=None) -> None:
    from edgekit.errors import EdgekitError

    s = outputs["scores"].reshape(len(outputs["scores"]), -1)
    m = outputs.get("moments", anchors)
    if m is None:
        raise EdgekitError("moment-retrieval needs outputs scores and moments, or scores with task.moment_anchors "
                           "in the sidecar (other layouts: --metric FILE.py:fn)")
    m = np.asarray(m)
    if m.shape not in (s.shape + (2,), (s.shape[1], 2)):
        raise EdgekitError(f"moments must be (N, A, 2) (or anchors (A, 2)) for scores {tuple(s.shape)}; got {tuple(m.shape)}")
    g = np.asarray(ground_truth["gt_moment"])
    if g.shape != (n, 2):
        raise EdgekitError(f"gt_moment must be (N, 2) for the {n} samples; got {g.shape}")

"""Temporal action detection: per-class AP as ActivityNet / THUMOS'14 compute it, and mAP over tIoU.

AP at one tIoU threshold: every detection of a class over the whole dataset, sorted by score, is
matched greedily to the unmatched ground truth of its video with the highest tIoU >= threshold
(a true positive), else it is a false positive; AP is the area under the precision/recall curve
with precision made monotone from the right (the ActivityNet `interpolated_prec_rec`). mAP is the
mean over the classes that have ground truth: a class with none has no recall to speak of.

Model outputs (docs/tasks.md): `scores` (N, A, C) per default span and class, `segments` (N, A, 2)
already decoded (start, end). Each class is NMS'd per video before matching, as detectors are.
"""

from __future__ import annotations

import numpy as np

from edgekit.analysis.metrics.intervals import nms_1d, score_order, temporal_iou

TIOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5:0.05:0.95
NMS_IOU = 0.5
GROUND_TRUTH = ("gt_segments", "gt_labels", "gt_video")
OUTPUTS = ("scores", "segments")


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the P/R curve, precision replaced by its maximum at any higher recall."""
    mprec = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def average_precision(det_segments, det_scores, det_video, gt_segments, gt_video,
                      tiou_thresholds=TIOU_THRESHOLDS) -> np.ndarray:
    """AP of one class at each tIoU threshold (fractions in [0, 1]); NaN when the class has no ground truth."""
    det_segments = np.asarray(det_segments, np.float64).reshape(-1, 2)
    det_video = np.asarray(det_video).reshape(-1)
    gt_segments = np.asarray(gt_segments, np.float64).reshape(-1, 2)
    gt_video = np.asarray(gt_video).reshape(-1)
    thresholds = np.asarray(tiou_thresholds, np.float64)
    if len(gt_segments) == 0:
        return np.full(len(thresholds), np.nan)
    if len(det_segments) == 0:
        return np.zeros(len(thresholds))
    order = score_order(det_scores)
    tp = np.zeros((len(thresholds), len(order)))
    matched = np.zeros((len(thresholds), len(gt_segments)), dtype=bool)
    for rank, d in enumerate(order):
        gts = np.flatnonzero(gt_video == det_video[d])
        if gts.size == 0:
            continue  # a false positive at every threshold
        tiou = temporal_iou(det_segments[d], gt_segments[gts])
        by_tiou = np.argsort(-tiou, kind="stable")
        for t, thr in enumerate(thresholds):
            for j in by_tiou:  # best overlap first; a taken ground truth passes to the next best
                if tiou[j] < thr:
                    break
                if not matched[t, gts[j]]:
                    matched[t, gts[j]] = True
                    tp[t, rank] = 1.0
                    break
    ctp = np.cumsum(tp, axis=1)
    precision = ctp / np.arange(1, len(order) + 1)
    recall = ctp / len(gt_segments)
    return np.array([interpolated_ap(precision[t], recall[t]) for t in range(len(thresholds))])


def decode_detections(scores: np.ndarray, segments: np.ndarray, nms_iou: float = NMS_IOU):
    """(N, A, C) scores and (N, A, 2) segments → flat detections (segment, score, label, video) after
    per-video, per-class NMS."""
    scores = np.asarray(scores, np.float64)
    segments = np.asarray(segments, np.float64)
    segs, confs, labels, videos = [], [], [], []
    for n in range(scores.shape[0]):
        for c in range(scores.shape[2]):
            keep = nms_1d(segments[n], scores[n, :, c], nms_iou)
            segs.append(segments[n][keep])
            confs.append(scores[n, keep, c])
            labels.append(np.full(len(keep), c))
            videos.append(np.full(len(keep), n))
    if not segs:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(segs), np.concatenate(confs), np.concatenate(labels), np.concatenate(videos)


def mean_ap(det_segments, det_scores, det_labels, det_video, gt_segments, gt_labels, gt_video,
            num_classes: int, tiou_thresholds=TIOU_THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """(per-class AP (C, T) with NaN rows for classes without ground truth, mAP per threshold (T,))."""
    det_labels, gt_labels = np.asarray(det_labels).reshape(-1), np.asarray(gt_labels).reshape(-1)
    det_segments = np.asarray(det_segments, np.float64).reshape(-1, 2)
    gt_segments = np.asarray(gt_segments, np.float64).reshape(-1, 2)
    det_scores, det_video, gt_video = (np.asarray(a).reshape(-1) for a in (det_scores, det_video, gt_video))
    ap = np.array([average_precision(det_segments[det_labels == c], det_scores[det_labels == c],
                                     det_video[det_labels == c], gt_segments[gt_labels == c],
                                     gt_video[gt_labels == c], tiou_thresholds) for c in range(num_classes)])
    ap = ap.reshape(num_classes, len(tiou_thresholds))
    has_gt = ~np.isnan(ap[:, 0]) if num_classes else np.zeros(0, bool)
    m = ap[has_gt].mean(axis=0) if has_gt.any() else np.full(len(tiou_thresholds), np.nan)
    return ap, m


def evaluate(outputs: dict, ground_truth: dict, nms_iou: float = NMS_IOU) -> dict:
    """mAP (percent) at tIoU 0.5, 0.75 and averaged over 0.5:0.05:0.95, after per-class NMS."""
    scores, segments = outputs["scores"], outputs["segments"]
    num_classes = scores.shape[2]
    det = decode_detections(scores, segments, nms_iou)
    _, m = mean_ap(*det, ground_truth["gt_segments"], ground_truth["gt_labels"], ground_truth["gt_video"],
                   num_classes)
    pct = (lambda v: None if np.isnan(v) else round(100.0 * float(v), 4))
    classes_with_gt = len(np.unique(np.asarray(ground_truth["gt_labels"]).reshape(-1)))
    return {"mAP@0.5": pct(m[0]), "mAP@0.75": pct(m[TIOU_THRESHOLDS.index(0.75)]), "mAP@0.5:0.95": pct(np.mean(m)),
            "classes_with_gt": classes_with_gt, "detections": int(len(det[1])), "nms_iou": nms_iou}


def check(outputs: dict, ground_truth: dict, n: int) -> None:
    """One-line errors for shapes that do not fit the contract (raised before any metric runs)."""
    from edgekit.errors import EdgekitError

    s, g = outputs["scores"], outputs["segments"]
    if s.ndim != 3 or g.shape != s.shape[:2] + (2,):
        raise EdgekitError(f"detection-1d needs outputs scores (N, A, C) and segments (N, A, 2); got "
                           f"{tuple(s.shape)} and {tuple(g.shape)} (other layouts: --metric FILE.py:fn)")
    segs, labels, video = (np.asarray(ground_truth[k]) for k in GROUND_TRUTH)
    if segs.ndim != 2 or segs.shape[1] != 2 or labels.shape != (len(segs),) or video.shape != (len(segs),):
        raise EdgekitError(f"gt_segments must be (M, 2) with gt_labels and gt_video (M,); got {segs.shape}, "
                           f"{labels.shape}, {video.shape}")
    if len(segs) and (video.min() < 0 or video.max() >= n):
        raise EdgekitError(f"gt_video must index the {n} samples (0..{n - 1}); it goes from {video.min()} to {video.max()}")
    if len(segs) and (labels.min() < 0 or labels.max() >= s.shape[2]):
        raise EdgekitError(f"gt_labels go up to {labels.max()} but scores have {s.shape[2]} classes")

"""Dense maps: boundary F-measure at the optimal dataset scale (ODS), and mean IoU of label maps.

The output (N, C, H, W) decides which: C > 1 is a label map (argmax over C) scored by mean IoU
against `gt_map` (N, H, W) integer labels (255 = ignore, as VOC / Cityscapes mark it), over the
classes present in the ground truth or the prediction (union > 0, counted over the whole dataset).
C == 1 is a boundary probability map in [0, 1] scored by ODS against a binary `gt_map`: one
threshold for the whole dataset, swept over 99 levels as the BSDS benchmark does, best F kept.

Matching differs from BSDS in one honest way: a predicted boundary pixel is correct when a ground
truth boundary pixel lies within the tolerance disk (and a ground truth pixel is recalled when a
prediction does), rather than BSDS's one-to-one bipartite matching, and maps are not thinned. The
tolerance is BSDS's maxDist, 0.0075 of the image diagonal; on small maps that is 0 pixels: exact.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255
THRESHOLDS = 99
MAX_DIST = 0.0075
GROUND_TRUTH = ("gt_map",)
OUTPUTS = ("map",)  # a single-output model's one output is taken whatever its name


def map_of(outputs: dict) -> np.ndarray:
    return outputs["map"] if "map" in outputs else next(iter(outputs.values()))


def mean_iou(pred_labels, gt_labels, num_classes: int, ignore: int = IGNORE) -> tuple[float, np.ndarray]:
    """(mIoU fraction over classes with union > 0, IoU per class with NaN where the union is empty)."""
    p = np.asarray(pred_labels).reshape(-1).astype(np.int64)
    g = np.asarray(gt_labels).reshape(-1).astype(np.int64)
    valid = (g != ignore) & (g >= 0) & (g < num_classes)
    conf = np.bincount(g[valid] * num_classes + p[valid], minlength=num_classes * num_classes)
    conf = conf.reshape(num_classes, num_classes)
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return (float(np.nanmean(iou)) if (union > 0).any() else float("nan")), iou


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Binary dilation of (N, H, W) by a Euclidean disk of `radius` pixels (shift-and-or: radii are small)."""
    r = int(np.floor(radius))
    if r < 1:
        return mask
    out = np.zeros_like(mask)
    n, h, w = mask.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx > radius * radius:
                continue
            out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] |= \
                mask[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def boundary_ods(prob, gt, thresholds: int = THRESHOLDS, max_dist: float = MAX_DIST) -> dict:
    """ODS over the dataset: counts summed over all images at each threshold, F of the sums, best one."""
    prob = np.asarray(prob, np.float64).reshape(np.shape(gt))
    gt = np.asarray(gt) > 0
    radius = max_dist * float(np.hypot(*gt.shape[1:]))
    gt_near = _dilate(gt, radius)
    levels = np.linspace(1.0 / (thresholds + 1), 1.0 - 1.0 / (thresholds + 1), thresholds)
    best = {"F": 0.0, "precision": 0.0, "recall": 0.0, "threshold": float(levels[0])}
    n_gt = int(gt.sum())
    for thr in levels:
        pred = prob >= thr
        n_pred = int(pred.sum())
        correct = int((pred & gt_near).sum())
        recalled = int((gt & _dilate(pred, radius)).sum())
        p = correct / n_pred if n_pred else 0.0
        r = recalled / n_gt if n_gt else 0.0
        f = 2 * p * r / (p + r) if p + r > 0 else 0.0
        if f > best["F"]:
            best = {"F": f, "precision": p, "recall": r, "threshold": float(thr)}
    return best


def evaluate(outputs: dict, ground_truth: dict) -> dict:
    m = map_of(outputs)
    gt = np.asarray(ground_truth["gt_map"])
    if m.shape[1] > 1:
        miou, iou = mean_iou(m.argmax(axis=1), gt, m.shape[1])
        return {"mIoU": None if np.isnan(miou) else round(100.0 * miou, 4),
                "classes_present": int((~np.isnan(iou)).sum())}
    b = boundary_ods(m[:, 0], gt)
    return {"ODS-F": round(100.0 * b["F"], 4), "precision": round(100.0 * b["precision"], 4),
            "recall": round(100.0 * b["recall"], 4), "threshold": round(b["threshold"], 4)}


def check(outputs: dict, ground_truth: dict, n: int) -> None:
    from edgekit.errors import EdgekitError

    m, g = map_of(outputs), np.asarray(ground_truth["gt_map"])
    if m.ndim != 4:
        raise EdgekitError(f"dense needs an output map (N, C, H, W); got {tuple(m.shape)} (other layouts: --metric FILE.py:fn)")
    if g.shape != (n,) + m.shape[2:]:
        raise EdgekitError(f"gt_map must be (N, H, W) = {(n,) + tuple(m.shape[2:])} to match the output map; got {g.shape}")
    if m.shape[1] == 1 and (np.nanmin(m) < 0 or np.nanmax(m) > 1):
        raise EdgekitError(f"a boundary map must be probabilities in [0, 1] (apply sigmoid in the model); "
                           f"it spans {float(np.nanmin(m)):.3g}..{float(np.nanmax(m)):.3g}")

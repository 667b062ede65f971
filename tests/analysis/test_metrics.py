"""Task metrics against values worked out by hand (the arithmetic is in the comments), plus edge cases."""

import numpy as np
import pytest

from edgekit.analysis.metrics import classification, dense, detection_1d, moment_retrieval, task_module
from edgekit.analysis.metrics.detection_1d import TIOU_THRESHOLDS, average_precision, interpolated_ap, mean_ap
from edgekit.analysis.metrics.intervals import nms_1d, temporal_iou
from edgekit.errors import EdgekitError

# One class, one video. Ground truth g1 = [0, 10], g2 = [20, 30]. Detections, best score first:
#   d1 [0, 10]  0.9  tIoU(g1) = 1
#   d2 [1, 11]  0.8  tIoU(g1) = 9/11 = 0.818, but g1 is taken by d1; tIoU(g2) = 0  → FP at every threshold
#   d3 [20, 26] 0.7  tIoU(g2) = 6/10 = 0.6                                         → TP up to tIoU 0.6
GT = np.array([[0, 10], [20, 30]], float)
DET = np.array([[0, 10], [1, 11], [20, 26]], float)
SCORES = np.array([0.9, 0.8, 0.7])


def test_temporal_iou_and_nms_by_hand():
    assert temporal_iou([0, 10], DET) == pytest.approx([1.0, 9 / 11, 0.0])
    assert temporal_iou([0, 0], [[0, 0], [5, 5]]).tolist() == [0.0, 0.0]  # empty union: 0, not NaN
    # d1 suppresses d2 (0.818 > 0.5); d3 does not overlap d1
    assert nms_1d(DET, SCORES, 0.5).tolist() == [0, 2]
    assert nms_1d(DET, SCORES, 0.9).tolist() == [0, 1, 2]
    assert nms_1d(DET, SCORES, 0.5, max_keep=1).tolist() == [0]
    assert nms_1d(np.zeros((0, 2)), np.zeros(0), 0.5).tolist() == []


def test_interpolated_ap_by_hand():
    # P = [1, 1/2, 2/3] at R = [1/2, 1/2, 1]: P made monotone from the right → [1, 2/3, 2/3];
    # area = (1/2 - 0) * 1 + (1 - 1/2) * 2/3 = 5/6
    assert interpolated_ap(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(5 / 6)


def test_average_precision_three_detections_two_ground_truths():
    ap = average_precision(DET, SCORES, np.zeros(3), GT, np.zeros(2))
    # tIoU 0.5, 0.55, 0.6: TP FP TP → P [1, 1/2, 2/3], R [1/2, 1/2, 1] → AP 5/6
    # tIoU 0.65 .. 0.95:  TP FP FP → P [1, 1/2, 1/3], R [1/2, 1/2, 1/2] → AP 1/2
    assert ap == pytest.approx([5 / 6] * 3 + [0.5] * 7)
    # mean over 0.5:0.05:0.95 = (3 * 5/6 + 7 * 1/2) / 10 = 0.6
    assert ap.mean() == pytest.approx(0.6)
    assert TIOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_greedy_matching_takes_the_best_unmatched_ground_truth():
    # gts [0,10] and [5,15]; d [4,14] (0.9) has tIoU 6/14 = 0.43 with the first, 9/11 = 0.82 with the
    # second → matches the second; d [0,9] (0.8) has 9/10 with the first → TP. AP@0.5 = 1.
    # Matching d1 to the first-listed ground truth would have made it a FP (0.43 < 0.5): AP 0.5.
    ap = average_precision([[4, 14], [0, 9]], [0.9, 0.8], [0, 0], [[0, 10], [5, 15]], [0, 0], (0.5,))
    assert ap.tolist() == [1.0]


def test_detection_in_another_video_is_a_false_positive():
    # same boxes, but d1 is in video 1 which has no ground truth: FP TP → P [0, 1/2], R [0, 1] → AP 1/2
    ap = average_precision([[0, 10], [0, 10]], [0.9, 0.8], [1, 0], [[0, 10]], [0], (0.5,))
    assert ap.tolist() == [0.5]


def test_edge_cases_no_detections_no_ground_truth():
    assert average_precision(np.zeros((0, 2)), [], [], GT, [0, 0]).tolist() == [0.0] * 10
    assert np.isnan(average_precision(DET, SCORES, [0, 0, 0], np.zeros((0, 2)), [])).all()
    # class 1 has detections but no ground truth: left out of the mean (mAP = class 0 alone);
    # class 2 has ground truth but no detections: AP 0, counted.
    labels = np.array([0, 0, 0, 1, 1])
    det = np.concatenate([DET, [[0, 5], [20, 30]]])
    ap, m = mean_ap(det, np.r_[SCORES, 0.95, 0.5], labels, np.zeros(5), GT, [0, 0], [0, 0], 2)
    assert np.isnan(ap[1]).all() and m == pytest.approx(ap[0])
    ap, m = mean_ap(det, np.r_[SCORES, 0.95, 0.5], labels, np.zeros(5), np.r_[GT, [[40, 50]]], [0, 0, 2],
                    [0, 0, 0], 3)
    assert ap[2].tolist() == [0.0] * 10 and m[0] == pytest.approx((5 / 6 + 0) / 2)
    _, m = mean_ap(np.zeros((0, 2)), [], [], [], np.zeros((0, 2)), [], [], 2)
    assert np.isnan(m).all()


def test_detection_evaluate_applies_nms_first():
    # outputs as the model gives them: (N=1, A=3, C=1). NMS at 0.5 removes d2 (see above), so
    # tIoU 0.5..0.6: TP TP → AP 1; 0.65..0.95: TP FP → P [1, 1/2], R [1/2, 1/2] → AP 1/2
    # mAP@0.5:0.95 = (3 * 1 + 7 * 1/2) / 10 = 0.65
    out = {"scores": SCORES.reshape(1, 3, 1), "segments": DET[None]}
    gt = {"gt_segments": GT, "gt_labels": np.array([0, 0]), "gt_video": np.array([0, 0])}
    r = detection_1d.evaluate(out, gt)
    assert (r["mAP@0.5"], r["mAP@0.75"], r["mAP@0.5:0.95"], r["detections"]) == (100.0, 50.0, 65.0, 2)
    # without NMS (threshold 1 keeps all): the hand-computed 5/6 and 0.6
    r = detection_1d.evaluate(out, gt, nms_iou=1.0)
    assert r["mAP@0.5"] == pytest.approx(100 * 5 / 6, abs=1e-4) and r["mAP@0.5:0.95"] == pytest.approx(60.0)
    detection_1d.check(out, gt, 1)
    with pytest.raises(EdgekitError, match="gt_video must index the 1 samples"):
        detection_1d.check(out, {**gt, "gt_video": np.array([0, 1])}, 1)
    with pytest.raises(EdgekitError, match="scores have 1 classes"):
        detection_1d.check(out, {**gt, "gt_labels": np.array([0, 3])}, 1)
    with pytest.raises(EdgekitError, match=r"segments \(N, A, 2\)"):
        detection_1d.check({"scores": out["scores"], "segments": DET}, gt, 1)


def test_moment_retrieval_recall_by_hand():
    # query 0, gt [0, 10]: by score [0,6] (IoU 0.6), [20,30] (0), [0,10] (1.0)
    #   R@1: 0.6 → hit at 0.5, miss at 0.7;  R@5: best of three = 1.0 → hit at both
    # query 1, gt [10, 20]: by score [10,17] (IoU 7/10 = 0.7), [0,5], [30,40]
    #   R@1: 0.7 → hit at 0.5 and at 0.7 (>=);  R@5: hit at both
    scores = np.array([[0.2, 0.9, 0.5], [0.9, 0.1, 0.3]])
    moments = np.array([[[0, 10], [0, 6], [20, 30]], [[10, 17], [30, 40], [0, 5]]], float)
    gt = np.array([[0, 10], [10, 20]], float)
    r = moment_retrieval.evaluate({"scores": scores, "moments": moments}, {"gt_moment": gt})
    assert r == {"R@1,IoU=0.5": 100.0, "R@1,IoU=0.7": 50.0, "R@5,IoU=0.5": 100.0, "R@5,IoU=0.7": 100.0,
                 "queries": 2, "nms_iou": None}


def test_moment_retrieval_nms_and_shared_anchors():
    # anchors [0,6] 0.9, [0,7] 0.8, [0,10] 0.7; gt [0,10]: IoUs 0.6, 0.7, 1.0
    # top-2 without NMS: 0.6, 0.7 → miss at 0.8. NMS at 0.65 drops [0,7] (IoU 6/7 = 0.86 with [0,6])
    # and keeps [0,10] (IoU 6/10 = 0.6 with [0,6]) → top-2 holds [0,10] → hit.
    # (NMS at 0.5 would drop [0,10] as well: only [0,6] left → miss.)
    anchors = np.array([[0, 6], [0, 7], [0, 10]], float)
    scores, gt = np.array([[0.9, 0.8, 0.7]]), np.array([[0, 10]], float)
    assert moment_retrieval.recall_at_k(scores, anchors, gt, ks=(2,), iou_thresholds=(0.8,)) == {"R@2,IoU=0.8": 0.0}
    assert moment_retrieval.recall_at_k(scores, anchors, gt, ks=(2,), iou_thresholds=(0.8,), nms_iou=0.65) \
        == {"R@2,IoU=0.8": 100.0}
    assert moment_retrieval.recall_at_k(scores, anchors, gt, ks=(2,), iou_thresholds=(0.8,), nms_iou=0.5) \
        == {"R@2,IoU=0.8": 0.0}
    r = moment_retrieval.evaluate({"scores": scores[..., None]}, {"gt_moment": gt}, anchors=anchors)  # (N, A, 1)
    assert (r["R@1,IoU=0.5"], r["R@1,IoU=0.7"], r["R@5,IoU=0.7"]) == (100.0, 0.0, 100.0)
    with pytest.raises(EdgekitError, match="gt_moment must be"):
        moment_retrieval.check({"scores": scores}, {"gt_moment": gt}, 2, anchors=anchors)


def test_mean_iou_by_hand_with_ignore_and_absent_class():
    # gt [[0, 0], [1, 255]], pred [[0, 1], [1, 0]]; the 255 pixel is ignored (its pred 0 too)
    # class 0: inter 1, union 2 + 1 - 1 = 2 → 1/2;  class 1: inter 1, union 1 + 2 - 1 = 2 → 1/2
    # class 2: in neither → not counted. mIoU = 1/2
    gt = np.array([[[0, 0], [1, 255]]])
    pred = np.array([[[0, 1], [1, 0]]])
    miou, iou = dense.mean_iou(pred, gt, 3)
    assert miou == 0.5 and iou[:2].tolist() == [0.5, 0.5] and np.isnan(iou[2])
    logits = np.eye(3)[pred].transpose(0, 3, 1, 2)  # (1, 3, 2, 2) whose argmax is pred
    assert dense.evaluate({"seg": logits}, {"gt_map": gt}) == {"mIoU": 50.0, "classes_present": 2}


def test_boundary_ods_by_hand():
    # image A (4x4, tolerance 0.0075 * diag = 0.04 px: exact matching): 4 boundary pixels with
    # probabilities .9 .8 .3 .3, two background pixels at .85 and .2. Image B: 1 boundary pixel, no prediction.
    a_gt, a_p = np.zeros((4, 4)), np.zeros((4, 4))
    a_gt[0, :] = 1
    a_p[0, :] = [0.9, 0.8, 0.3, 0.3]
    a_p[2, 1], a_p[3, 3] = 0.85, 0.2
    b_gt = np.zeros((4, 4))
    b_gt[1, 1] = 1
    # counts summed over both images (5 boundary pixels):
    #   t <= .2       : 6 predicted, 4 correct → P 2/3, R 4/5 → F 0.727
    #   .2 < t <= .3  : 5 predicted, 4 correct → P 4/5, R 4/5 → F 0.8   ← best
    #   .3 < t <= .8  : 3 predicted, 2 correct → P 2/3, R 2/5 → F 0.5
    r = dense.boundary_ods(np.stack([a_p, np.zeros((4, 4))]), np.stack([a_gt, b_gt]))
    assert r["F"] == pytest.approx(0.8) and r["precision"] == pytest.approx(0.8) and r["threshold"] == pytest.approx(0.21)
    # image A alone: at .2 < t <= .3, P 4/5, R 1 → F 8/9 (ODS is not the mean of per-image F)
    assert dense.boundary_ods(a_p[None], a_gt[None])["F"] == pytest.approx(8 / 9)
    out = dense.evaluate({"edges": a_p[None, None]}, {"gt_map": a_gt[None]})
    assert out["ODS-F"] == pytest.approx(100 * 8 / 9, abs=1e-4) and out["recall"] == 100.0


def test_boundary_tolerance_is_one_pixel_on_a_100px_map():
    # 0.0075 * hypot(100, 100) = 1.06 px: a boundary one column off still matches, two columns off does not
    gt = np.zeros((1, 100, 100))
    gt[0, :, 50] = 1
    one, two = np.zeros_like(gt), np.zeros_like(gt)
    one[0, :, 51] = 1
    two[0, :, 52] = 1
    assert dense.boundary_ods(one, gt)["F"] == 1.0
    assert dense.boundary_ods(two, gt)["F"] == 0.0
    with pytest.raises(EdgekitError, match=r"probabilities in \[0, 1\]"):
        dense.check({"m": 3 * one[:, None]}, {"gt_map": gt}, 1)


def test_classification_top1_top5_by_hand():
    # 6 classes; sample 0: argmax 2 = label → top-1 hit; sample 1: label 0 is the lowest score → top-5 miss;
    # sample 2: label 5 is 2nd → top-5 hit only. top-1 1/3, top-5 2/3
    logits = np.array([[0, 1, 9, 2, 3, 4], [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 9, 5.]])
    r = classification.evaluate({"out": logits}, {"y": np.array([2, 0, 5])})
    assert (r["correct1"], r["correct5"], r["n"]) == (1, 2, 3) and r["top1"] == pytest.approx(100 / 3)
    with pytest.raises(EdgekitError, match="labels go up to 6"):
        classification.check({"out": logits}, {"y": np.array([2, 0, 6])}, 3)


def test_unknown_task_names_the_choices():
    with pytest.raises(EdgekitError, match="did you mean: detection-1d"):
        task_module("detection1d")


def test_metrics_import_without_torch():
    # a device with numpy and a runtime scores its own outputs (the rule of the house for measurement)
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "from edgekit.analysis.metrics import TASKS, task_module\n"
            "import edgekit.analysis.metrics.task_data, edgekit.analysis.metrics.user_metric\n"
            "print([task_module(t).__name__.rsplit('.', 1)[1] for t in TASKS])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['classification', 'detection_1d', 'moment_retrieval', 'dense']"

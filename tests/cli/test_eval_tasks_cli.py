"""`edgekit eval --task`: a user's own multi-output / multi-input torch model, exported with
torch.onnx.export here (not edgekit's exporter), evaluated on onnxruntime from a task .npz; the
metric must equal the same numpy metric on the PyTorch outputs."""

import json
import warnings

import numpy as np
import pytest

from cli_helpers import assert_user_error, run_cli
from cli_helpers import run_in_process as run
from edgekit.analysis.metrics import detection_1d, moment_retrieval

N, C, T, CLASSES, VOCAB, L = 6, 4, 16, 3, 30, 5


def _export(model, args, path, input_names, output_names):
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), args, str(path), dynamo=False, input_names=input_names, output_names=output_names)
    return path


def _detector():
    """A 1-D detector as a user writes one: per time step (the default spans), class scores and a
    decoded (start, end) around the step's centre."""
    import torch
    from torch import nn

    class Detector(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Conv1d(C, 16, 3, padding=1)
            self.cls = nn.Conv1d(16, CLASSES, 1)
            self.reg = nn.Conv1d(16, 2, 1)
            self.register_buffer("centre", torch.arange(T, dtype=torch.float32) + 0.5)

        def forward(self, x):
            h = torch.relu(self.body(x))
            scores = torch.sigmoid(self.cls(h)).transpose(1, 2)  # (N, A=T, C)
            left, right = torch.exp(self.reg(h)).unbind(1)  # (N, T) each: distances to start / end
            segments = torch.stack([self.centre - left, self.centre + right], dim=-1)  # (N, A, 2)
            return scores, segments

    torch.manual_seed(0)
    return Detector()


def _grounding():
    """Moment retrieval with two inputs: clip features (C, T) float32 and query token ids (L,) int64."""
    import torch
    from torch import nn

    class Grounding(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, 8)
            self.video = nn.Conv1d(C, 8, 3, padding=1)
            self.width = nn.Conv1d(8, 1, 1)
            self.register_buffer("centre", torch.arange(T, dtype=torch.float32) + 0.5)

        def forward(self, video, tokens):
            q = self.embed(tokens).mean(1)  # (N, 8)
            v = torch.tanh(self.video(video))  # (N, 8, T)
            scores = (v * q[:, :, None]).sum(1)  # (N, T): one candidate moment per step
            half = 1.0 + 3.0 * torch.sigmoid(self.width(v))[:, 0]
            return scores, torch.stack([self.centre - half, self.centre + half], dim=-1)

    torch.manual_seed(1)
    return Grounding()


@pytest.fixture(scope="module")
def detection_case(tmp_path_factory):
    import torch

    d = tmp_path_factory.mktemp("det")
    model = _detector()
    onnx = _export(model, (torch.zeros(1, C, T),), d / "det.onnx", ["x"], ["scores", "segments"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, T)).astype(np.float32)
    with torch.no_grad():
        scores, segments = (t.numpy() for t in model(torch.from_numpy(x)))
    # ground truth: per video the best-scored span of a class (a true positive to find) and a random span
    gts, labels, videos = [], [], []
    for n in range(N):
        c = n % CLASSES
        gts.append(segments[n, scores[n, :, c].argmax()])
        start = rng.uniform(0, T - 4)
        gts.append([start, start + rng.uniform(2, 4)])
        labels += [c, (c + 1) % CLASSES]
        videos += [n, n]
    gt = {"gt_segments": np.array(gts, np.float32), "gt_labels": np.array(labels), "gt_video": np.array(videos)}
    np.savez(d / "gt.npz", x=x, **gt)
    return {"onnx": onnx, "npz": d / "gt.npz", "dir": d, "x": x, "gt": gt,
            "torch": {"scores": scores, "segments": segments}}


def test_detection_1d_map_matches_numpy_on_pytorch_outputs(capsys, detection_case):
    f = detection_case
    code, out, err = run(capsys, "eval", str(f["onnx"]), "--task", "detection-1d", "--data", str(f["npz"]), "--json")
    assert code == 0, err
    r = json.loads(out)
    ref = detection_1d.evaluate(f["torch"], f["gt"])
    assert (r["runtime"], r["task"], r["n"], r["inputs"], r["outputs"]) == \
        ("onnxruntime", "detection-1d", N, ["x"], ["scores", "segments"])
    m = r["metrics"]
    for key in ("mAP@0.5", "mAP@0.75", "mAP@0.5:0.95"):
        assert m[key] == pytest.approx(ref[key], abs=1e-3), key
    assert 0 < m["mAP@0.5:0.95"] < m["mAP@0.5"] < 100  # the random spans are not all found: a real number
    assert m["classes_with_gt"] == CLASSES and m["detections"] == ref["detections"]
    # --size 3: the first three videos and only their ground truth
    code, out, _ = run(capsys, "eval", str(f["onnx"]), "--task", "detection-1d", "--data", str(f["npz"]),
                       "--size", "3", "--json")
    keep = f["gt"]["gt_video"] < 3
    ref3 = detection_1d.evaluate({k: v[:3] for k, v in f["torch"].items()}, {k: v[keep] for k, v in f["gt"].items()})
    assert code == 0 and json.loads(out)["metrics"]["mAP@0.5"] == pytest.approx(ref3["mAP@0.5"], abs=1e-3)
    code, out, _ = run(capsys, "eval", str(f["onnx"]), "--task", "detection-1d", "--data", str(f["npz"]))
    assert code == 0 and "mAP@0.5" in out and f"{N} samples" in out


def test_user_metric_gets_outputs_and_ground_truth_by_name(capsys, detection_case, tmp_path):
    f = detection_case
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "def score(outputs, ground_truth):\n"
        "    return {'mean_score': float(outputs['scores'].mean()), 'gt': len(ground_truth['gt_labels']),\n"
        "            'span': float(outputs['segments'][..., 1].max()), 'n_x_in_gt': int('x' in ground_truth)}\n"
        "def broken(outputs, ground_truth):\n"
        "    return outputs['logits']\n")
    code, out, err = run(capsys, "eval", str(f["onnx"]), "--task", "detection-1d", "--metric",
                         f"{tmp_path / 'mine.py'}:score", "--data", str(f["npz"]), "--json")
    assert code == 0, err
    m = json.loads(out)["metrics"]
    assert m["mean_score"] == pytest.approx(float(f["torch"]["scores"].mean()), rel=1e-5)
    assert m["span"] == pytest.approx(float(f["torch"]["segments"][..., 1].max()), rel=1e-5)
    assert (m["gt"], m["n_x_in_gt"]) == (2 * N, 0)  # inputs are not ground truth
    code, _, err = run(capsys, "eval", str(f["onnx"]), "--metric", f"{tmp_path / 'mine.py'}:broken",
                       "--data", str(f["npz"]))
    assert code == 2 and err.startswith("error: metric") and "KeyError" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def moment_case(tmp_path_factory):
    import torch

    d = tmp_path_factory.mktemp("mr")
    model = _grounding()
    onnx = _export(model, (torch.zeros(1, C, T), torch.zeros(1, L, dtype=torch.int64)), d / "mr.onnx",
                   ["video", "tokens"], ["scores", "moments"])
    rng = np.random.default_rng(2)
    video = rng.standard_normal((N, C, T)).astype(np.float32)
    tokens = rng.integers(0, VOCAB, (N, L)).astype(np.int64)
    with torch.no_grad():
        scores, moments = (t.numpy() for t in model(torch.from_numpy(video), torch.from_numpy(tokens)))
    # half the queries' ground truth is the model's best moment shifted by 1 (IoU high but < 1), the rest random
    gt = []
    for n in range(N):
        s, e = moments[n, scores[n].argmax()] + 1.0 if n % 2 == 0 else np.sort(rng.uniform(0, T, 2))
        gt.append([s, e])
    gt = np.array(gt, np.float32)
    np.savez(d / "gt.npz", video=video, tokens=tokens, gt_moment=gt)
    return {"onnx": onnx, "npz": d / "gt.npz", "dir": d, "video": video, "tokens": tokens, "gt": gt,
            "torch": {"scores": scores, "moments": moments}}


def test_moment_retrieval_two_inputs_int64_ids(capsys, moment_case):
    f = moment_case
    code, out, err = run(capsys, "eval", str(f["onnx"]), "--task", "moment-retrieval", "--data", str(f["npz"]), "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["inputs"] == ["video", "tokens"] and r["n"] == N
    ref = moment_retrieval.evaluate(f["torch"], {"gt_moment": f["gt"]})
    assert r["metrics"] == pytest.approx(ref)
    assert 0 < r["metrics"]["R@1,IoU=0.5"] < 100
    # the ids reach the Embedding as int64 ids: other ids give other scores (a float-normalised feed
    # could not even be accepted by onnxruntime's int64 input)
    other = dict(np.load(f["npz"]))
    other["tokens"] = (other["tokens"] + 7) % VOCAB
    np.savez(f["dir"] / "other.npz", **other)
    code, out, _ = run(capsys, "eval", str(f["onnx"]), "--task", "moment-retrieval", "--metric",
                       f"{_scores_metric(f['dir'])}:first_scores", "--data", str(f["dir"] / "other.npz"), "--json")
    import torch

    with torch.no_grad():
        want = _grounding()(torch.from_numpy(other["video"]), torch.from_numpy(other["tokens"]))[0].numpy()
    got = json.loads(out)["metrics"]
    assert code == 0 and [got[f"s{i}"] for i in range(3)] == pytest.approx(want[0, :3].tolist(), rel=1e-5)


def _scores_metric(d):
    p = d / "scores_metric.py"
    p.write_text("def first_scores(outputs, ground_truth):\n"
                 "    return {f's{i}': float(outputs['scores'][0, i]) for i in range(3)}\n")
    return p


def test_task_bad_input_is_one_line(capsys, detection_case, moment_case, tmp_path):
    det, mr = detection_case, moment_case
    d = dict(np.load(mr["npz"]))
    np.savez(tmp_path / "no_tokens.npz", video=d["video"], gt_moment=d["gt_moment"])
    np.savez(tmp_path / "no_gt.npz", video=d["video"], tokens=d["tokens"])
    np.savez(tmp_path / "short_gt.npz", video=d["video"], tokens=d["tokens"], gt_moment=d["gt_moment"][:-1])
    np.savez(tmp_path / "uneven.npz", video=d["video"], tokens=d["tokens"][:-1], gt_moment=d["gt_moment"])
    np.savez(tmp_path / "float_ids.npz", video=d["video"], tokens=d["tokens"].astype(np.float32),
             gt_moment=d["gt_moment"])
    g = dict(np.load(det["npz"]))
    np.savez(tmp_path / "bad_video.npz", **{**g, "gt_video": g["gt_video"] + 1})
    cases = [
        ((mr["onnx"], "--task", "segmentation", "--data", mr["npz"]), "unknown task 'segmentation'"),
        ((mr["onnx"], "--task", "moment-retrieval", "--data", tmp_path / "no_tokens.npz"), "no array 'tokens'"),
        ((mr["onnx"], "--task", "moment-retrieval", "--data", tmp_path / "no_gt.npz"), "has no gt_moment"),
        ((mr["onnx"], "--task", "moment-retrieval", "--data", tmp_path / "short_gt.npz"), "gt_moment must be (N, 2) for the 6"),
        ((mr["onnx"], "--task", "moment-retrieval", "--data", tmp_path / "uneven.npz"), "different sample counts"),
        ((mr["onnx"], "--task", "moment-retrieval", "--data", tmp_path / "float_ids.npz"), "takes int64"),
        ((mr["onnx"], "--task", "detection-1d", "--data", mr["npz"]), "has no gt_segments, gt_labels, gt_video"),
        ((det["onnx"], "--task", "moment-retrieval", "--data", tmp_path / "no_gt.npz"), "no array 'x'"),
        ((det["onnx"], "--task", "detection-1d", "--data", tmp_path / "bad_video.npz"), "gt_video must index"),
        ((det["onnx"], "--task", "dense", "--data", det["npz"]), "has no gt_map"),
        ((det["onnx"], "--task", "detection-1d", "--data", tmp_path), "must be an .npz"),
        ((det["onnx"], "--metric", "nofile.py:fn", "--data", det["npz"]), "metric file not found"),
        (("micronet-m0", "--task", "detection-1d", "--data", det["npz"]), "evaluates an exported file"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, "eval", *map(str, argv))
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert out == ""
    # and as a shell sees it: exit 2, one line, no traceback
    assert_user_error(run_cli("eval", mr["onnx"], "--task", "moment-retrieval", "--data", tmp_path / "short_gt.npz"),
                      "gt_moment must be")


def test_two_input_classifier_and_dense_label_map(capsys, tmp_path):
    """A classifier with two inputs goes the model-ready npz way without --task; --task dense scores
    a (N, C, H, W) label map by mIoU. Both against numpy on the PyTorch outputs."""
    import torch
    from torch import nn

    from edgekit.analysis.metrics import dense
    from edgekit.analysis.accuracy import topk_accuracy

    class TwoInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.fc = nn.Embedding(VOCAB, 8), nn.Linear(C * T + 8, 7)

        def forward(self, x, ids):
            return self.fc(torch.cat([x.flatten(1), self.embed(ids).mean(1)], 1))

    torch.manual_seed(3)
    net, seg = TwoInput(), nn.Conv2d(3, 4, 3, padding=1)
    _export(net, (torch.zeros(1, C, T), torch.zeros(1, L, dtype=torch.int64)), tmp_path / "cls.onnx",
            ["x", "ids"], ["logits"])
    _export(seg, (torch.zeros(1, 3, 8, 8),), tmp_path / "seg.onnx", ["image"], ["labels"])
    rng = np.random.default_rng(4)
    x, ids = rng.standard_normal((20, C, T)).astype(np.float32), rng.integers(0, VOCAB, (20, L))
    with torch.no_grad():
        logits = net(torch.from_numpy(x), torch.from_numpy(ids)).numpy()
    y = np.where(np.arange(20) % 2 == 0, logits.argmax(1), rng.integers(0, 7, 20))  # about half right
    np.savez(tmp_path / "cls.npz", x=x, ids=ids, y=y)
    code, out, err = run(capsys, "eval", str(tmp_path / "cls.onnx"), "--data", str(tmp_path / "cls.npz"), "--json")
    assert code == 0, err
    r = json.loads(out)
    ref = topk_accuracy(logits, y)
    assert r["task"] == "classification" and r["metrics"]["correct1"] == ref.correct1 >= 10
    assert r["metrics"]["top5"] == pytest.approx(ref.top5)

    image = rng.standard_normal((5, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        labels = seg(torch.from_numpy(image)).numpy()
    gt = labels.argmax(1)
    gt[:, :4] = rng.integers(0, 4, (5, 4, 8))  # top half random, bottom half what the model says
    gt[0, 0, 0] = 255  # ignored
    np.savez(tmp_path / "seg.npz", image=image, gt_map=gt)
    code, out, err = run(capsys, "eval", str(tmp_path / "seg.onnx"), "--task", "dense", "--data",
                         str(tmp_path / "seg.npz"), "--json")
    assert code == 0, err
    m = json.loads(out)["metrics"]
    want = dense.mean_iou(labels.argmax(1), gt, 4)[0]
    assert m["mIoU"] == pytest.approx(100 * want, abs=1e-3) and 30 < m["mIoU"] < 90 and m["classes_present"] == 4


def test_sidecar_names_outputs_and_declares_anchors(capsys, moment_case, tmp_path):
    """A model that outputs only scores over fixed candidates, under its own output name: the sidecar's
    task.outputs maps the name and task.moment_anchors gives the (A, 2) candidates."""
    import torch

    from edgekit.artifact import sidecar_path

    f = moment_case

    class ScoresOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.full = _grounding()  # same seed: the moment_case model's scores

        def forward(self, video, tokens):
            return self.full(video, tokens)[0]

    path = _export(ScoresOnly(), (torch.zeros(1, C, T), torch.zeros(1, L, dtype=torch.int64)), tmp_path / "s.onnx",
                   ["video", "tokens"], ["logit_0"])
    anchors = [[t - 2.0, t + 2.0] for t in range(T)]
    argv = ("eval", str(path), "--task", "moment-retrieval", "--data", str(f["npz"]), "--json")
    code, _, err = run(capsys, *argv)
    assert code == 2 and "has no output scores, moments" in err and "logit_0" in err
    sidecar_path(path).write_text(json.dumps({"task": {"outputs": {"scores": "logit_0"}, "moment_anchors": anchors}}))
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    ref = moment_retrieval.recall_at_k(f["torch"]["scores"], np.array(anchors), f["gt"])
    got = json.loads(out)["metrics"]
    assert {k: got[k] for k in ref} == pytest.approx(ref) and max(ref.values()) > 0

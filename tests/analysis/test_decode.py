"""The task decoders (edgekit/analysis/metrics/decode.py) on hand-computed cases, and the DTPN head layout
they assume checked against the real model's Conv1d flattening."""

import math

import numpy as np
import pytest
import torch

from edgekit.analysis.metrics.decode import decode, default_span_grid
from edgekit.errors import EdgekitError


def test_proposals_by_hand():
    # one video, one proposal, background + 2 classes: softmax(0, ln 2, 0) = (1/4, 1/2, 1/4); sigmoid(0) = 1/2
    out = decode({"scores": np.array([[[0.0, math.log(2), 0.0]]]), "ranking": np.array([[0.0]])},
                 {"decode": "proposals", "proposals": [[8.0, 24.0]]})
    assert np.allclose(out["scores"], [[[0.25, 0.125]]])
    assert np.array_equal(out["segments"], [[[8.0, 24.0]]])


def test_default_spans_by_hand():
    # levels: 2 positions of cell 1, then 1 position of cell 2; one span length (1 x cell); background + 1 class
    spec = {"decode": "default_spans", "levels": [[2, 1.0], [1, 2.0]], "lengths": [1.0]}
    assert np.array_equal(default_span_grid(spec["levels"], spec["lengths"]), [[0.5, 1.0], [1.5, 1.0], [1.0, 2.0]])
    # each level flattened channel-major as Conv1d(..., spans*values, positions).flatten(1) writes it
    cls = np.array([[0.0, 0.0, 0.0, math.log(3),   # level 0: background (pos 0, pos 1), class (pos 0, pos 1)
                     math.log(3), 0.0]])            # level 1: background, class
    off = np.array([[0.5, 0.0, 0.0, math.log(2),   # level 0: dc (pos 0, pos 1), dl (pos 0, pos 1)
                     -0.25, 0.0]])                  # level 1: dc, dl
    out = decode({"class_scores": cls, "offsets": off}, spec)
    assert np.allclose(out["scores"][0, :, 0], [0.5, 0.75, 0.25])
    # centre c_a + dc * l_a, length l_a * exp(dl)
    assert np.allclose(out["segments"][0], [[0.5, 1.5], [0.5, 2.5], [-0.5, 1.5]])


def test_moment_offsets_and_sigmoid_map_by_hand():
    out = decode({"scores": np.zeros((1, 2)), "offsets": np.array([[[0.0, 0.0], [0.5, -0.5]]])},
                 {"decode": "moment_offsets", "candidates": [[0, 1], [1, 2]]})  # spans (0, 1) and (2, 4)
    assert np.allclose(out["scores"], 0.5) and np.allclose(out["moments"], [[[0, 1], [3, 3]]])
    out = decode({"boundary": np.array([[[[0.0, math.log(3)]]]])}, {"decode": "sigmoid_map", "source": "boundary"})
    assert np.allclose(out["map"], [[[[0.5, 0.75]]]])


def test_declaration_mismatches_are_one_line_errors():
    with pytest.raises(EdgekitError, match="needs the output"):
        decode({"logits": np.zeros((1, 3))}, {"decode": "proposals", "proposals": [[0, 1]]})
    with pytest.raises(EdgekitError, match="2 proposals"):
        decode({"scores": np.zeros((1, 3, 3)), "ranking": np.zeros((1, 3))},
               {"decode": "proposals", "proposals": [[0, 1], [1, 2]]})
    with pytest.raises(EdgekitError, match="unknown decoder"):
        decode({}, {"decode": "yolo"})


def test_dtpn_heads_are_laid_out_as_the_card_declares():
    """Bias the class head to one (span, class) channel: the decoded scores must peak at exactly the default
    spans of that span length, at every position of every level (a positions-major reading would not)."""
    from edgekit.models.registry import get_card
    from edgekit.models.temporal_detectors import DTPNSmall

    task = get_card("dtpn-small").extra["task"]
    net = DTPNSmall().eval()
    k = net.k
    with torch.no_grad():
        for head in (net.cls, net.reg):
            head.weight.zero_()
            head.bias.zero_()
        net.cls.bias[1 * k + 5] = 10.0  # span 1, class 5 (foreground index 4)
        net.reg.bias[2 * 2 + 0] = 0.5  # span 2: centre shifted by half its length
        ys = net(torch.randn(1, 3, 8, 56, 56), torch.randn(1, 3, 16, 56, 56))
    out = decode({"class_scores": ys[0].numpy(), "offsets": ys[1].numpy()}, task)
    grid = default_span_grid(task["levels"], task["lengths"])
    best = out["scores"][0].max(1)
    span = np.concatenate([np.repeat(np.arange(3), int(p)) for p, _ in task["levels"]])
    assert (out["scores"][0].argmax(1)[span == 1] == 4).all() and (best[span == 1] > 0.99).all()
    assert (best[span != 1] < 0.1).all()
    centre = out["segments"][0].mean(1)
    assert np.allclose(centre, grid[:, 0] + np.where(span == 2, 0.5 * grid[:, 1], 0.0), atol=1e-6)

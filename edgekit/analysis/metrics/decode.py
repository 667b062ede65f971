"""Decoders: a model's raw heads -> the outputs a task metric reads (numpy only, no torch).

A card (or a sidecar) may declare how its heads become the task's outputs:
`{"task": {"name": "detection-1d", "decode": "proposals", ...parameters}}`. `edgekit eval` applies the
decoder after running the file and before the metric, so the exported graph keeps only the network
(post-processing outside the graph, as the research-line cards say) and a device with just a runtime
can score itself. One function per decoder; each takes the outputs by name and the declaration and
returns the task's outputs by name (docs/tasks.md, "Decoders").

- `proposals` (TCN): `scores` (N, P, K+1) class logits with background first and `ranking` (N, P)
  actionness logits over fixed proposals `proposals` (P, 2) -> `scores` (N, P, K) = softmax without
  the background column x sigmoid(ranking), `segments` (N, P, 2) = the proposals.
- `default_spans` (DTPN, single-shot): `class_scores` (N, A*(K+1)) and `offsets` (N, A*2), each head
  flattened level by level as a Conv1d writes it (channel-major: spans x values x positions);
  `levels` [[positions, cell], ...] and `lengths` (span lengths as multiples of the cell) give the
  default spans, centred on each cell. segments: centre = c_a + dc * l_a, length = l_a * exp(dl)
  (dl clipped to +-4); scores: softmax without the background column.
- `moment_offsets` (MAN): `scores` (N, A) logits and `offsets` (N, A, 2) over candidates
  `candidates` [[t, s], ...] = the span (t*s, (t+1)*s) -> `scores` = sigmoid, `moments` = candidate +
  offsets x its length.
- `sigmoid_map` (MoBoNet): the output `source` (logits, N, 1, H, W) -> `map` = sigmoid (the dense
  task's boundary maps are probabilities).
"""

from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _need(outputs: dict, names, decoder: str) -> list[np.ndarray]:
    missing = [n for n in names if n not in outputs]
    if missing:
        raise EdgekitError(f"decoder {decoder!r} needs the output(s) {', '.join(missing)} "
                           f"(the file has {', '.join(outputs)})")
    return [np.asarray(outputs[n], np.float64) for n in names]


def proposals(outputs: dict, spec: dict) -> dict:
    logits, ranking = _need(outputs, ("scores", "ranking"), "proposals")
    spans = np.asarray(spec["proposals"], np.float64)
    if logits.shape[1] != len(spans) or ranking.shape[:2] != logits.shape[:2]:
        raise EdgekitError(f"decoder 'proposals': {len(spans)} proposals but scores {logits.shape} and ranking "
                           f"{ranking.shape}")
    scores = _softmax(logits)[..., 1:] * _sigmoid(ranking.reshape(logits.shape[:2]))[..., None]
    return {"scores": scores, "segments": np.broadcast_to(spans, (len(logits), *spans.shape)).copy()}


def default_span_grid(levels, lengths) -> np.ndarray:
    """(A, 2) (centre, length) of every default span, in the order the flattened heads hold them:
    level by level, then span, then position."""
    rows = []
    for positions, cell in levels:
        for r in lengths:
            for p in range(int(positions)):
                rows.append(((p + 0.5) * cell, r * cell))
    return np.asarray(rows, np.float64)


def _per_level(flat: np.ndarray, levels, spans: int, values: int) -> np.ndarray:
    """(N, A, values) from a head flattened level by level as (spans*values, positions) per level."""
    n, parts, at = len(flat), [], 0
    for positions, _ in levels:
        size = spans * values * int(positions)
        block = flat[:, at:at + size].reshape(n, spans, values, int(positions))
        parts.append(block.transpose(0, 1, 3, 2).reshape(n, spans * int(positions), values))
        at += size
    if at != flat.shape[1]:
        raise EdgekitError(f"decoder 'default_spans': the head holds {flat.shape[1]} values, the declared levels "
                           f"{at}")
    return np.concatenate(parts, 1)


def default_spans(outputs: dict, spec: dict) -> dict:
    cls, off = _need(outputs, ("class_scores", "offsets"), "default_spans")
    levels, lengths = spec["levels"], spec["lengths"]
    anchors = default_span_grid(levels, lengths)
    k = cls.shape[1] // len(anchors)
    if k * len(anchors) != cls.shape[1] or off.shape[1] != 2 * len(anchors):
        raise EdgekitError(f"decoder 'default_spans': {len(anchors)} default spans do not divide class_scores "
                           f"{cls.shape} / offsets {off.shape}")
    logits = _per_level(cls, levels, len(lengths), k)
    delta = _per_level(off, levels, len(lengths), 2)
    centre = anchors[:, 0] + delta[..., 0] * anchors[:, 1]
    length = anchors[:, 1] * np.exp(np.clip(delta[..., 1], -4.0, 4.0))
    return {"scores": _softmax(logits)[..., 1:], "segments": np.stack([centre - length / 2, centre + length / 2], -1)}


def moment_offsets(outputs: dict, spec: dict) -> dict:
    scores, off = _need(outputs, ("scores", "offsets"), "moment_offsets")
    cand = np.asarray(spec["candidates"], np.float64)
    spans = np.stack([cand[:, 0] * cand[:, 1], (cand[:, 0] + 1) * cand[:, 1]], 1)  # (A, 2)
    scores = scores.reshape(len(scores), -1)
    if scores.shape[1] != len(spans) or off.shape[1:] != (len(spans), 2):
        raise EdgekitError(f"decoder 'moment_offsets': {len(spans)} candidates but scores {scores.shape} and "
                           f"offsets {off.shape}")
    return {"scores": _sigmoid(scores), "moments": spans + off * cand[:, 1:2]}


def sigmoid_map(outputs: dict, spec: dict) -> dict:
    (logits,) = _need(outputs, (spec.get("source", "map"),), "sigmoid_map")
    return {"map": _sigmoid(logits)}


DECODERS = {"proposals": proposals, "default_spans": default_spans, "moment_offsets": moment_offsets,
            "sigmoid_map": sigmoid_map}


def decode(outputs: dict, spec: dict) -> dict:
    """`outputs` with the task's outputs added by the decoder `spec["decode"]` names (none: unchanged)."""
    name = spec.get("decode")
    if not name:
        return outputs
    if name not in DECODERS:
        raise EdgekitError(f"unknown decoder {name!r} in the task declaration; known: {', '.join(DECODERS)}")
    return {**outputs, **DECODERS[name](outputs, spec)}

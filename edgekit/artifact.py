"""Artifact sidecar: `<model file>.edgekit.json` next to every export.

Later commands (bench, check, report, eval, inspect) read the card, MAdds, precision, rewrites
and parity from here instead of re-deriving them — and without torch. Pure JSON, no torch.

Schema (keys a writer must fill; readers tolerate missing ones):
  edgekit_version, model (name), source, target ("onnx"|"tflite"|"openvino"), precision
  ("fp32"|"fp16"|"int8"), file, files (all files of the artifact), size_bytes, card (Card.to_dict),
  madds {params, conv_madds, dynamic_madds, total_madds, graph_madds, rewrite_overhead},
  rewrites [ {pass, changed, max_abs_diff, ...} ], parity {max_abs_diff, rel_max_abs_diff, cosine,
  top1_agreement, n_inputs}, census {...}, conversion_seconds, layout ("nchw"|"nhwc"),
  inputs [ {name, shape, dtype} ], outputs [ {name, shape, dtype} ], quantization {...}
"""

from __future__ import annotations

import json
from pathlib import Path

SUFFIX = ".edgekit.json"


def sidecar_path(model_file) -> Path:
    p = Path(model_file)
    return p.with_name(p.name + SUFFIX)


def read_sidecar(model_file) -> dict:
    """The sidecar's content, or {} when the artifact has none (a stock export, say)."""
    p = sidecar_path(model_file)
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def sidecar_text(meta: dict) -> str:
    return json.dumps(meta, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)) + "\n"

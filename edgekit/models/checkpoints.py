"""Reading checkpoints safely and loading them into zoo models.

Accepted layouts (those the MicroNet release writes and reads): a bare state_dict, or a wrapper
dict with 'state_dict' (training saves {'epoch','arch','state_dict','best_prec1','optimizer'}) or
'model'; keys with or without DataParallel's `module.` prefix. Loading always uses
`torch.load(weights_only=True)`: a pickle that carries arbitrary objects is refused without
executing anything.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings

import torch

from edgekit.errors import EdgekitError

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EdgekitError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # protocol/format chatter from torch.load is not for the user
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"a Python object ({found.group(1)})" if found else "something other than tensors and plain containers"
        raise EdgekitError(
            f"refused to load {path}: it carries {what}, and edgekit never unpickles arbitrary objects; "
            "re-save it as a plain state_dict: torch.save(model.state_dict(), path)"
        ) from None
    except Exception as exc:  # a file torch cannot parse at all: text, truncated zip, random bytes
        raise EdgekitError(f"{path} is not a PyTorch checkpoint ({type(exc).__name__} while reading it)") from None
    return normalize_state_dict(obj, path)


def normalize_state_dict(obj, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Unwrap a training checkpoint and strip `module.` prefixes."""
    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise EdgekitError(f"{source} holds no state_dict (expected a dict of tensors, or one under 'state_dict')")
    out = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise EdgekitError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor")
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def infer_num_classes(state: dict[str, torch.Tensor], default: int) -> int:
    """Classes of the checkpoint's classifier: rows of the last 2-D weight."""
    for key in reversed(list(state)):
        if key.endswith("weight") and state[key].ndim == 2:
            return int(state[key].shape[0])
    return default


def _few(keys, n: int = 3) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load with one clear error naming the first few bad keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL_SUFFIXES)]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_few(unexpected)}")
    if mis_shaped:
        problems.append(f"wrong shapes: {_few(mis_shaped)}")
    if problems:
        raise EdgekitError(f"{source} does not fit this model: " + "; ".join(problems))
    model.load_state_dict(state, strict=False)

"""`--metric FILE.py:fn`: a user's metric, `fn(outputs, ground_truth) -> dict[str, float]`.

`outputs` maps each model output name to its (N, ...) array, `ground_truth` every array of the
data .npz that is not a model input. The result must be a flat dict of numbers (JSON-able).
"""

from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError


def load_metric(spec: str):
    target, _, name = spec.rpartition(":")
    if not target.endswith(".py") or not name:
        raise EdgekitError(f"--metric takes FILE.py:function, not {spec!r}")
    from edgekit.usercode import import_file

    module = import_file(target, prefix="edgekit_user_metric_")
    fn = getattr(module, name, None)
    if not callable(fn):
        raise EdgekitError(f"{target} has no function {name!r}")
    return fn


def run_metric(fn, spec: str, outputs: dict, ground_truth: dict) -> dict[str, float]:
    try:
        result = fn(outputs, ground_truth)
    except Exception as exc:  # the user's code: its error, on one line, says where to look
        raise EdgekitError(f"metric {spec} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(result, dict):
        raise EdgekitError(f"metric {spec} must return a dict of name -> number, not {type(result).__name__}")
    clean = {}
    for k, v in result.items():
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                and not (isinstance(v, np.ndarray) and v.size == 1):
            raise EdgekitError(f"metric {spec} returned {k!r} = {type(v).__name__}; values must be numbers")
        clean[str(k)] = float(v) if not isinstance(v, (int, np.integer)) else int(v)
    return clean

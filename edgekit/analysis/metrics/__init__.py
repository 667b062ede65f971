"""Task metrics for `edgekit eval --task`: one module per task, pure numpy (no torch, no runtime).

Each task module exposes `evaluate(outputs, ground_truth, **options) -> dict[str, float]`, where
`outputs` maps a model output name to its array batched over samples and `ground_truth` maps the
ground-truth arrays of the data .npz (docs/tasks.md has the format). A user metric loaded with
`--metric FILE.py:fn` has the same signature, so the CLI treats both alike.
"""

from __future__ import annotations

TASKS = ("classification", "detection-1d", "moment-retrieval", "dense")


def task_module(task: str):
    """The module that owns `task` (imported on use: each is small, but only one is needed)."""
    import importlib

    from edgekit.errors import EdgekitError, did_you_mean

    if task not in TASKS:
        raise EdgekitError(f"unknown task {task!r}{did_you_mean(task, TASKS)}; choose from {', '.join(TASKS)}")
    return importlib.import_module("edgekit.analysis.metrics." + task.replace("-", "_"))

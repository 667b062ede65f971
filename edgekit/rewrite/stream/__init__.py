"""The stream transform: a clip model → a step model with explicit state, proven exact in float64.

`build_step_model(model, input_shape, window=None)` (transform.py), `check_stream_exact(model, step)`
(verify.py), the stateful layers in layers.py.
"""

from edgekit.rewrite.stream.transform import StepModel, build_step_model
from edgekit.rewrite.stream.verify import StreamNotExact, check_stream_exact, run_stream, window_vs_separate

__all__ = ["StepModel", "build_step_model", "check_stream_exact", "run_stream", "window_vs_separate",
           "StreamNotExact"]

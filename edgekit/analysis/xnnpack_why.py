"""Why XNNPACK left a TFLite node on LiteRT's default kernels: one line per node, for the census.

The delegate says nothing when it declines a node (its support check runs without a logging
context), so the census names the cause from the node itself, by the delegate's own conditions
that edgekit's models meet in practice. Each rule was checked against ai-edge-litert 2.3 on this
machine (tests/analysis/test_xnnpack_why.py exports a model that trips it and one that does not):

- integer tensors: XNNPACK computes float32 / fp16 / int8 / uint8 tensors only; int32 / int64 ids,
  indices and shapes stay on the default kernels (MAN's token reshape);
- operators XNNPACK does not have (EMBEDDING_LOOKUP, GATHER, GATHER_ND, ...);
- CONCATENATION of more inputs than XNNPACK's concatenate takes (5 in this build: 5 delegated, 6 not;
  MoBoNet's six stacked inputs);
- FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D / TRANSPOSE_CONV whose weights are computed at run time
  (both operands dynamic: MAN's adjacency Q·Kᵀ, which the converter writes as a FULLY_CONNECTED).
A node none of these explains gets "not explained by edgekit's rules"; never a guess.
Numpy only (runs where only a runtime is installed).
"""

from __future__ import annotations

import numpy as np

MAX_CONCAT_INPUTS = 5
WEIGHTED = {"FULLY_CONNECTED": 1, "CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "TRANSPOSE_CONV": 1}  # op: weight operand
# operators the XNNPACK delegate has no kernel for at all (among those edgekit's graphs contain)
NOT_XNNPACK = {"EMBEDDING_LOOKUP", "GATHER", "GATHER_ND", "SCATTER_ND", "WHERE", "NON_MAX_SUPPRESSION_V4",
               "NON_MAX_SUPPRESSION_V5", "TOPK_V2", "ARG_MAX", "ARG_MIN", "CAST", "UNIDIRECTIONAL_SEQUENCE_LSTM",
               "BIDIRECTIONAL_SEQUENCE_LSTM", "WHILE", "IF", "CUMSUM", "ONE_HOT"}
FLOAT_KINDS = (np.float32, np.float16, np.int8, np.uint8)


def why_left(op: dict, dtypes: dict[int, type], dynamic: set[int]) -> str:
    """The reason node `op` ({op, inputs, outputs}: tensor indices) is not delegated.

    `dtypes`: tensor index -> numpy dtype; `dynamic`: tensors computed at run time (graph inputs and
    every op's outputs), the others being constants."""
    kind = op["op"]
    if kind in NOT_XNNPACK:
        return f"{kind} is not an XNNPACK operator"
    ints = sorted({np.dtype(dtypes[t]).name for t in list(op["inputs"]) + list(op["outputs"])
                   if t in dynamic and dtypes.get(t) is not None and dtypes[t] not in FLOAT_KINDS})
    if ints:
        return f"{'/'.join(ints)} tensors (ids, indices, shapes): XNNPACK computes float32, fp16, int8 and uint8 only"
    if kind == "CONCATENATION" and len(op["inputs"]) > MAX_CONCAT_INPUTS:
        return (f"{len(op['inputs'])} inputs: XNNPACK's concatenate takes at most {MAX_CONCAT_INPUTS} "
                "(split it before a conv, or feed fewer tensors)")
    w = WEIGHTED.get(kind)
    if w is not None and len(op["inputs"]) > w and op["inputs"][w] in dynamic:
        return "weights computed at run time (both operands dynamic): XNNPACK needs constant weights here"
    return "not explained by edgekit's rules"


def explain(ops: list[dict], left: list[dict], dtypes: dict[int, type], graph_inputs) -> list[dict]:
    """[{index, op, why}] for the nodes `left` on the default kernels of the graph `ops`."""
    dynamic = set(graph_inputs)
    for op in ops:
        dynamic.update(op["outputs"])
    return [{"index": op["index"], "op": op["op"], "why": why_left(op, dtypes, dynamic)} for op in left]


def why_lines(delegate: dict | None) -> list[str]:
    """'OP xN: why' per distinct (op, reason) of a census delegate entry, most frequent first."""
    from collections import Counter

    counts = Counter((w["op"], w["why"]) for w in (delegate or {}).get("default_kernel_why") or ())
    return [f"{op} x{n}: {why}" for (op, why), n in counts.most_common()]

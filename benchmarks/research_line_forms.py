"""Delegate-friendly forms for what the research line's models leave on LiteRT's default kernels (issue 24),
measured against the stock graph before any is made a pass: partitions, ops on default kernels, and the
latency ratio at 1 and 2 threads, the two files of each pair timed in one process, interleaved
(stock.round_times), ratio = median over rounds of the per-round ratio. Same weights in both forms; the
float64 difference of the two forms is printed with each row (each is an exact re-writing).

  man-small      GraphAdjust's adjacency Q·Kᵀ: the converter writes it as a FULLY_CONNECTED whose weights are
                 computed (XNNPACK declines it: 2 of MAN's 3 partition breaks) -> broadcast form
                 sum_d Q[:, i, d] K[:, j, d] (MUL + SUM, delegated)
  mobonet-small  the 6-input CONCATENATION before the first conv (XNNPACK takes at most 5) -> the conv's
                 weight split over two 3-input concatenations, the two convs added

    python benchmarks/research_line_forms.py [--rounds 30] [--block 20] [-o benchmarks/results/research_line_forms.md]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stock import emit, pair_at_threads, partitions_text  # noqa: E402


def man_forms():
    import torch
    import torch.nn.functional as F

    from edgekit.models.moment_retrieval import GraphAdjust
    from edgekit.models.source import load_model

    class BroadcastAdjacency(GraphAdjust):
        def forward(self, m):
            logits = (self.q(m).unsqueeze(2) * self.k(m).unsqueeze(1)).sum(-1) * self.scale
            return m + F.relu(self.w(torch.softmax(logits, dim=-1) @ m))

    stock, card = load_model("man-small")
    form = copy.deepcopy(stock)
    for g in form.graph:
        g.__class__ = BroadcastAdjacency
    return stock.eval(), form.eval(), card


def mobonet_forms():
    import torch
    import torch.nn.functional as F

    from edgekit.models.motion_boundary import MoBoNetSmall
    from edgekit.models.source import load_model

    class SplitFirstConv(MoBoNetSmall):
        def encode_inputs(self, image0, image1, flow_fw, flow_bw, error_fw, error_bw):
            conv = self.enc1[0]
            a, b = torch.cat([image0, image1], 1), torch.cat([flow_fw, flow_bw, error_fw, error_bw], 1)
            x = F.conv2d(a, conv.weight[:, :6], None, conv.stride, conv.padding) + \
                F.conv2d(b, conv.weight[:, 6:], None, conv.stride, conv.padding)
            return self.enc1[2](self.enc1[1](x))

    stock, card = load_model("mobonet-small")
    form = copy.deepcopy(stock)
    form.__class__ = SplitFirstConv
    return stock.eval(), form.eval(), card


PAIRS = {"man-small": ("broadcast Q·Kᵀ (MUL + SUM)", man_forms),
         "mobonet-small": ("first conv split over 2 concats", mobonet_forms)}


def main(argv=None) -> int:
    import numpy as np
    import torch

    from edgekit.analysis.census_tflite import census
    from edgekit.analysis.sample_inputs import sample_set
    from edgekit.exporters.tflite import litert_convert
    from edgekit.models.examples import FlatOutputs

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--block", type=int, default=20)
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, (label, build) in PAIRS.items():
            torch.manual_seed(0)
            stock, form, card = build()
            sample = sample_set(card.io, 1)[0]
            xs = tuple(torch.from_numpy(a) for a in sample)
            with torch.no_grad():
                x64 = tuple(x.double() if x.is_floating_point() else x for x in xs)
                ys = [copy.deepcopy(m).double()(*x64) for m in (stock, form)]
            diff = max(float((a - b).abs().max() / (a.abs().max() + 1e-30)) for a, b in zip(*ys))
            files = {}
            for k, m in (("stock", stock), ("form", form)):
                files[k] = Path(d) / f"{name}-{k}.tflite"
                files[k].write_bytes(litert_convert(FlatOutputs(m).eval(), xs))  # nested as the exporter does
            parts = {k: census(f)["delegate"] for k, f in files.items()}
            timed = pair_at_threads({"form": files["form"], "stock": files["stock"]}, threads, args.rounds, args.block,
                                    feed=lambda r: [np.asarray(a).astype(s.dtype) for a, s in zip(sample, r.inputs())])
            rows += [(name, label, n, t["ratio"], t["b_ms"], t["a_ms"], parts["stock"], parts["form"], diff)
                     for n, t in timed.items()]
    lines = [f"LiteRT (ai-edge-litert), {args.rounds} interleaved rounds of {args.block} runs; ratio = median over "
             "rounds of form / stock (< 1: the form is faster).", "",
             "| model | form | threads | form / stock | stock ms | form ms | stock partitions / default ops | "
             "form partitions / default ops | float64 diff |", "|---|---|---:|---:|---:|---:|---|---|---:|"]
    for name, label, n, ratio, s_ms, f_ms, ps, pf, diff in rows:
        lines.append(f"| {name} | {label} | {n} | {ratio:.3f} | {s_ms:.3f} | {f_ms:.3f} | {partitions_text(ps)} | "
                     f"{partitions_text(pf)} | {diff:.1e} |")
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Thread scaling of edgekit's exports against stock, and every runtime setting / graph variant tried to
make a 2-thread run faster, measured side by side in one process (issue 11).

Per model and runtime, every file below is loaded once per (thread count, setting) and ALL of them are
timed interleaved in one process (stock.round_times: short blocks, many rounds, order flipped every
round); each ratio is the median over rounds of the per-round ratio (stock.pair_ratio), and the spread
is the interquartile range of those per-round ratios. Files:

  stock      the stock path (stock.py)
  edgekit    `edgekit export --target T` (what users get)
  skeleton   edgekit's rewrite with every Shift-Max deleted (benchmarks/skeleton_bound.py), through
             the stock converter: NOT equivalent, the bound any exact rewrite keeping the network's
             convolutions can reach — here at each thread count

Settings (SETTINGS: runtime → label → runner keyword arguments), each at 2 threads next to the default:
  onnxruntime  spin off: session.intra_op.allow_spinning = 0 (default 1: workers spin-wait between ops)
  litert       latest: experimental_default_delegate_latest_features (XNNPACK's newest operator paths)
  openvino     no hint: INFERENCE_NUM_THREADS alone, without PERFORMANCE_HINT LATENCY / NUM_STREAMS 1
  executorch   none (its pool is process-wide: the files of one thread count are timed together, the
               counts one after another)

    python benchmarks/threads.py --models m0 m3 --cache /tmp/thr-cache -o benchmarks/results/threads.md
    python benchmarks/threads.py --models m0 --runtimes litert --rounds 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer import RUNTIMES, files_for, load_line, machine_cores  # noqa: E402
from stock import (pair_ratio, quiet, round_times, round_times_per_count, stock_onnx,  # noqa: E402
                   stock_tflite)


def _litert(path, threads, **interpreter_kwargs):
    from edgekit.runtimes.litert_runner import LiteRTRunner

    runner = LiteRTRunner(path, threads)
    if interpreter_kwargs:  # the same interpreter, with the extra options
        from edgekit.runtimes.device_bench import litert_options
        from edgekit.runtimes.litert_runner import interpreter_module

        it = interpreter_module().Interpreter(model_path=str(path), **litert_options(threads), **interpreter_kwargs)
        it.allocate_tensors()
        runner.interpreter = it
    return runner


def _ort(path, threads, spinning=None):
    from edgekit.runtimes.onnxruntime_runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(path, threads, spinning=spinning)


def _openvino(path, threads, hint=True):
    from edgekit.runtimes.openvino_runner import OpenVINORunner

    runner = OpenVINORunner(path, threads)
    if not hint:
        runner.compiled = runner.core.compile_model(runner.model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                                         "INFERENCE_PRECISION_HINT": "f32"})
        runner.request = runner.compiled.create_infer_request()
    return runner


def _executorch(path, threads):
    from edgekit.runtimes.executorch_runner import ExecuTorchRunner

    return ExecuTorchRunner(path, threads)


OPEN = {"onnxruntime": _ort, "litert": _litert, "openvino": _openvino, "executorch": _executorch}
# runtime → setting label → runner keyword arguments, each timed at the highest thread count
SETTINGS = {
    "onnxruntime": {"spin on": {"spinning": True}, "spin off": {"spinning": False}},
    "litert": {"latest": {"experimental_default_delegate_latest_features": True}},
    "openvino": {"no hint": {"hint": False}},
    "executorch": {},
}


def skeleton_file(runtime: str, variant: str, size: int, work: Path) -> Path:
    """The Shift-Max-free skeleton of edgekit's rewrite for `runtime`, through the stock converter."""
    from skeleton_bound import TARGET_OF, skeleton
    from stock import reference_model

    from edgekit.rewrite.pipeline import rewrite_for_export

    from peer import stock_executorch

    suffix, make = {"litert": (".tflite", stock_tflite), "executorch": (".pte", stock_executorch)}.get(
        runtime, (".onnx", stock_onnx))
    out = work / f"skeleton-{runtime}{suffix}"
    if not out.is_file():
        model = reference_model(f"micronet-{variant}", size)
        with quiet():
            # executorch: the tflite rewrite's skeleton (its executorch form differs only in Shift-Max)
            bare, _ = skeleton(rewrite_for_export(model, (3, size, size), TARGET_OF.get(runtime, "tflite"),
                                                  verify=False)[0])
        make(bare, size, out)
    return out


def _iqr(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def measure(variant: str, runtime: str, size: int, threads: list[int], rounds: int, block: int, work: Path,
            skeleton: bool) -> dict:
    """{"times": per-round ms per (file, threads, setting), "labels"} for one model on one runtime."""
    from edgekit.runtimes.base import random_inputs

    (_, _, stock, export), = files_for(variant, size, [runtime], False, work)
    files = {"stock": stock, "edgekit": Path(export["file"])}
    if skeleton:
        files["skeleton"] = skeleton_file(runtime, variant, size, work / "fp32" / runtime)
    top = threads[-1]
    plan = [(f, n, "default", {}) for f in files for n in threads]
    plan += [(f, top, label, kw) for f in ("stock", "edgekit") for label, kw in SETTINGS[runtime].items()]
    calls = {}
    for f, n, label, kw in plan:
        runner = OPEN[runtime](files[f], n, **kw)
        arrays = random_inputs(runner.inputs())
        calls[(f, n, label)] = (lambda r=runner, a=arrays: r.run(*a))
    if runtime == "executorch":  # one process-wide pool: one thread count at a time (executorch_runner)
        return round_times_per_count(calls, threads, rounds, block)
    return round_times(calls, rounds, block)


def ratios(times: dict, threads: list[int], runtime: str) -> list[tuple[str, float, float, float, float]]:
    """(what, median per-round ratio, IQR low, IQR high, ratio of the fastest rounds) for every comparison
    of one measurement. The last one is the least hurt by other processes: a fastest round is one where
    the machine's cores were free."""
    top, one = threads[-1], threads[0]
    pairs = []
    for n in threads:
        pairs.append((f"edgekit/stock, {n} thr", ("edgekit", n, "default"), ("stock", n, "default")))
    for n in threads[1:]:
        for f in ("stock", "edgekit", "skeleton"):
            if (f, n, "default") in times:
                pairs.append((f"{f} {n} thr / {one} thr", (f, n, "default"), (f, one, "default")))
    if ("skeleton", top, "default") in times:
        for n in threads:
            pairs.append((f"skeleton/stock, {n} thr", ("skeleton", n, "default"), ("stock", n, "default")))
            pairs.append((f"edgekit/skeleton, {n} thr", ("edgekit", n, "default"), ("skeleton", n, "default")))
    for label in SETTINGS[runtime]:
        for f in ("stock", "edgekit"):
            pairs.append((f"{f} {top} thr {label} / default", (f, top, label), (f, top, "default")))
        pairs.append((f"edgekit/stock, {top} thr, both {label}", ("edgekit", top, label), ("stock", top, label)))
        pairs.append((f"edgekit {top} thr {label} / {one} thr", ("edgekit", top, label), ("edgekit", one, "default")))
    out = []
    for what, a, b in pairs:
        per_round = [x / y for x, y in zip(times[a], times[b])]
        lo, hi = _iqr(per_round)
        out.append((what, pair_ratio(times, a, b), lo, hi, min(times[a]) / min(times[b])))
    return out


# (kind, channels, H=W, steps): synthetic LiteRT graphs of one op kind at MicroNet-like sizes
OP_GRAPHS = [("elt", 8, 7, 40), ("elt", 16, 28, 40), ("elt", 32, 56, 40), ("conv", 16, 28, 40), ("conv", 64, 56, 40)]


def op_graph(kind: str, c: int, hw: int, n: int, out: Path) -> Path:
    """`n` steps of max(x·a, x + b) (3 element-wise ops each, per-channel a, b: nothing to fuse) or of
    1×1 conv + ReLU (one fused op each) on (1, c, hw, hw), converted by litert_torch."""
    import torch

    class Elementwise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.rand(n, 1, c, 1, 1) + 0.5)
            self.b = torch.nn.Parameter(torch.rand(n, 1, c, 1, 1))

        def forward(self, x):
            for i in range(n):
                x = torch.maximum(x * self.a[i], x + self.b[i])
            return x

    class Pointwise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleList(torch.nn.Conv2d(c, c, 1) for _ in range(n))

        def forward(self, x):
            for m in self.convs:
                x = torch.relu(m(x))
            return x

    if not out.is_file():
        torch.manual_seed(0)
        stock_tflite((Elementwise if kind == "elt" else Pointwise)().eval(), hw, out, example=torch.zeros(1, c, hw, hw))
    return out


def op_overhead(work: Path, threads: list[int], rounds: int, block: int) -> list[str]:
    """Per-op time of each synthetic graph at each thread count (all timed interleaved): what one more
    op costs on 2 threads against 1, by op kind and tensor size."""
    from edgekit.runtimes.base import random_inputs

    work.mkdir(parents=True, exist_ok=True)
    calls, ops = {}, {}
    for kind, c, hw, n in OP_GRAPHS:
        f = op_graph(kind, c, hw, n, work / f"{kind}_c{c}_hw{hw}_n{n}.tflite")
        ops[f.stem] = 3 * n if kind == "elt" else n
        for t in threads:
            r = _litert(f, t)
            x = random_inputs(r.inputs())
            calls[(f.stem, t)] = (lambda r=r, x=x: r.run(*x))
    times = round_times(calls, rounds, block)
    md = ["| graph | ops | elements per op | " + " | ".join(f"µs/op {t} thr" for t in threads)
          + f" | {threads[-1]} thr / {threads[0]} thr (median of pairs) | same, fastest rounds |",
          "|---|---:|---:|" + "---:|" * len(threads) + "---:|---:|"]
    for kind, c, hw, n in OP_GRAPHS:
        stem = f"{kind}_c{c}_hw{hw}_n{n}"
        per = [statistics.median(times[(stem, t)]) * 1e3 / ops[stem] for t in threads]
        a, b = (stem, threads[-1]), (stem, threads[0])
        md.append(f"| {kind} {c}×{hw}×{hw} | {ops[stem]} | {c * hw * hw:,} | " + " | ".join(f"{v:.2f}" for v in per)
                  + f" | {pair_ratio(times, a, b):.2f} | {min(times[a]) / min(times[b]):.2f} |")
    return md


SPIN_CHILD = """
import sys, statistics
from edgekit.runtimes.onnxruntime_runner import OnnxRuntimeRunner
from edgekit.runtimes.base import random_inputs
from edgekit.runtimes.device_bench import timed_runs
r = OnnxRuntimeRunner(sys.argv[1], int(sys.argv[2]), spinning=sys.argv[3] == "1")
x = random_inputs(r.inputs())
print(statistics.median(timed_runs(lambda: r.run(*x), warmup=20, seconds=float(sys.argv[4]))))
"""


def spin_in_own_processes(path: Path, threads: int, reps: int, seconds: float) -> list[float]:
    """onnxruntime's spin-wait choice with ONE session per process, as on a device: processes with
    spinning off and on alternate `reps` times, each timing `seconds`; per-pair ratios off / on.
    (In one process, the idle sessions' spinning workers would take cores from the timed one.)"""
    import subprocess

    def median_ms(spin: str) -> float:
        out = subprocess.run([sys.executable, "-c", SPIN_CHILD, str(path), str(threads), spin, str(seconds)],
                             capture_output=True, text=True, check=True).stdout
        return float(out.strip().splitlines()[-1])

    ratios_ = []
    for i in range(reps):
        order = ("0", "1") if i % 2 == 0 else ("1", "0")
        ms = {spin: median_ms(spin) for spin in order}
        ratios_.append(ms["0"] / ms["1"])
    return ratios_


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["m0", "m3"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", default=None, help="comma list (default: 1 up to the machine's cores)")
    ap.add_argument("--runtimes", default="litert,onnxruntime,openvino")
    ap.add_argument("--rounds", type=int, default=80)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--no-skeleton", action="store_true", help="skip the skeleton bound (no extra conversion)")
    ap.add_argument("--cache", type=Path, help="keep converted files here (shared layout with peer.py --cache)")
    ap.add_argument("--spin-processes", type=int, default=0, metavar="REPS",
                    help="instead: onnxruntime spinning off/on at the highest thread count, one session per "
                         "process, REPS alternations (edgekit's export of each model)")
    ap.add_argument("--op-overhead", action="store_true",
                    help="instead: per-op time of synthetic LiteRT graphs (element-wise, 1x1 conv) per thread count")
    ap.add_argument("-o", "--out", type=Path, help="append the Markdown tables to this file")
    args = ap.parse_args(argv)
    threads = ([int(t) for t in args.threads.split(",")] if args.threads
               else list(range(1, machine_cores() + 1)))
    md = []
    if args.op_overhead:
        with tempfile.TemporaryDirectory() as tmp:
            md = [f"Machine: {load_line()}.", ""] + op_overhead((args.cache or Path(tmp)) / "op-graphs", threads,
                                                                 args.rounds, args.block)
        print("\n".join(md))
        if args.out:
            with open(args.out, "a") as fh:
                fh.write("\n".join(md) + "\n")
        return 0
    if args.spin_processes:
        with tempfile.TemporaryDirectory() as tmp:
            root = args.cache or Path(tmp)
            for v in args.models:
                start = load_line()
                (_, _, stock, export), = files_for(v, args.size, ["onnxruntime"], False, root / v)
                for what, path in (("stock", stock), ("edgekit", Path(export["file"]))):
                    r = spin_in_own_processes(path, threads[-1], args.spin_processes, 2.0)
                    lo, hi = _iqr(r) if len(r) > 1 else (r[0], r[0])
                    md.append(f"| micronet-{v} | {what} | {threads[-1]} | {statistics.median(r):.3f} | "
                              f"{lo:.2f}–{hi:.2f} | {len(r)} | {start} |")
                    print(md[-1], flush=True)
        md = ["| model | file | threads | spin off / spin on (median of pairs) | IQR | pairs | machine |",
              "|---|---|---:|---:|---:|---:|---|"] + md
        if args.out:
            with open(args.out, "a") as fh:
                fh.write("\n".join(md) + "\n")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = args.cache or Path(tmp)
        for v in args.models:
            for rt in [r for r in args.runtimes.split(",") if r]:
                if rt not in RUNTIMES or rt not in OPEN:
                    ap.error(f"unknown runtime {rt}")
                start = load_line()
                times = measure(v, rt, args.size, threads, args.rounds, args.block, root / v, not args.no_skeleton)
                rows = ratios(times, threads, rt)
                md += [f"### micronet-{v} · {rt} · threads {','.join(map(str, threads))}", "",
                       f"{args.rounds} rounds × {args.block} runs per file and setting; {start} at the start, "
                       f"{load_line()} at the end. Medians (ms): " + ", ".join(
                           f"{f} {n}t{'' if s == 'default' else ' ' + s} {statistics.median(v_):.3f}"
                           for (f, n, s), v_ in times.items()) + ".", "",
                       "| comparison | ratio (median of per-round ratios) | IQR of per-round ratios | "
                       "ratio of fastest rounds |", "|---|---:|---:|---:|"]
                md += [f"| {w} | {r:.3f} | {lo:.2f}–{hi:.2f} | {m:.3f} |" for w, r, lo, hi, m in rows] + [""]
                print("\n".join(md[-len(rows) - 6:]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as fh:
            fh.write("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

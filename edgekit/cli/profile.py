"""`edgekit profile FILE`: where the time goes, per op type, from the runtime's own profiler."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from edgekit.cli.common import MAX_RUNS, MAX_THREADS, JsonOpt, console, print_json

EXAMPLES = """Examples:

  edgekit profile m0.onnx

  edgekit profile m0.xml --threads 2 --runs 50 --top 15

  edgekit profile m0.tflite --runtime openvino --json
"""


def profile_cmd(
    file: Path = typer.Argument(..., metavar="FILE", help="Model file (.onnx, .xml; .tflite with --runtime openvino)."),
    runtime: str = typer.Option("auto", "--runtime", "-r", help="auto (by extension) | onnxruntime | openvino | litert."),
    threads: int = typer.Option(1, "--threads", "-t", min=1, max=MAX_THREADS, help="Intra-op threads."),
    warmup: int = typer.Option(5, "--warmup", min=0, max=MAX_RUNS, help="Unprofiled runs first."),
    runs: int = typer.Option(20, "--runs", "-n", min=1, max=MAX_RUNS, help="Profiled runs (op times are their mean)."),
    top: int = typer.Option(10, "--top", min=1, max=100_000, help="How many op types and nodes to show."),
    json_out: bool = JsonOpt,
):
    """Per-op latency grouped by op type (onnxruntime profiling, OpenVINO performance counters).

    Op times are what the profiler measured inside the runtime; their sum is compared with the
    wall-clock latency of the same runs (the rest is runtime overhead between ops).
    """
    from edgekit.runtimes.profile import profile_file

    result = profile_file(file, runtime, threads, warmup, runs, top)
    if json_out:
        print_json(result)
        return
    out = console if console.is_terminal else Console(width=160)
    out.print(profile_table(result))
    wall, stat = result["wall_ms"], result["wall_stat"]
    share = 100 * result["op_total_ms"] / wall if wall else 0
    out.print(f"ops sum {result['op_total_ms']:.3f} ms per run = {share:.0f}% of the {stat} wall-clock "
              f"{wall:.3f} ms with the profiler on ({result['runs']} runs, {result['threads']} thread(s), "
              f"{result['ops_total']} op types)")


def profile_table(result: dict):
    from rich import box
    from rich.table import Table

    table = Table(title=f"{result['name']} · {result['runtime']} {result.get('runtime_version') or ''} · per op type",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("op", "nodes", "ms/run", "%", "kernels"):
        table.add_column(c, justify="left" if c in ("op", "kernels") else "right")
    for e in result["ops"]:
        table.add_row(e["op"], str(e["nodes"]), f"{e['ms']:.4f}", f"{e['pct']:.1f}", ", ".join(e["kernels"])[:60])
    return table


def register(app: typer.Typer) -> None:
    app.command("profile", epilog=EXAMPLES)(profile_cmd)

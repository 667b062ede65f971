"""`edgekit sweep SWEEP.toml -o DIR`: export, bench and eval every cell of a grid, resumably."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import MAX_THREADS, JsonOpt, err_console, print_json, show_progress

EXAMPLES = """Examples:

  edgekit sweep examples/sweep_pi.toml -o results/ --dry-run

  edgekit sweep examples/sweep_pi.toml -o results/

  edgekit sweep examples/sweep_pi.toml -o results/ --ray 10.0.0.5:6379

  edgekit select results/ --device pi --max-latency-ms 10

  edgekit report results/

Re-running the same command resumes: recorded cells are skipped, cached exports reused.
Exit codes: 0 every cell ran, 1 some cells failed (listed at the end), 2 the sweep file is wrong.
"""


def sweep_cmd(
    sweep_file: Path = typer.Argument(..., metavar="SWEEP.toml", help="The grid (see examples/sweep_pi.toml)."),
    output: Path = typer.Option(..., "--output", "-o", help="Results directory (results.jsonl + exports/)."),
    jobs: int = typer.Option(None, "--jobs", "-j", min=1, max=MAX_THREADS, help="Export processes (default: the usable cores)."),
    ray: str = typer.Option(None, "--ray", metavar="ADDRESS", help="Run on a Ray cluster (host:port, or auto)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (cells, exports, device time) and stop."),
    json_out: bool = JsonOpt,
):
    """Export every model × size × target × precision once (cached by model, weights and options),
    time it on every device × thread count, evaluate it when the sweep file gives eval data, and append one
    record per cell to DIR/results.jsonl. Interrupted or crashed runs resume where they stopped."""
    from edgekit.errors import EdgekitError
    from edgekit.sweep.grid import load_sweep
    from edgekit.sweep.run import plan
    from edgekit.sweep.store import RESULTS, read_records

    if jobs is not None and jobs < 1:
        raise EdgekitError(f"--jobs must be at least 1 (got {jobs})")
    sweep = load_sweep(sweep_file)
    cache_root = output / "exports"
    if dry_run:
        done = {r["key"] for r in read_records(output)} if (output / RESULTS).is_file() else set()
        p = plan(sweep, done, cache_root)
        if json_out:
            print_json({"kind": "sweep_plan", **p})
        else:
            for line in plan_lines(p):
                typer.echo(line)
        return

    from edgekit.sweep.store import ResultsStore

    with ResultsStore(output) as store:
        bar, progress = _progress_bar(len(sweep.cells()) - len(store.done & {c.key for c in sweep.cells()}))
        try:
            if ray:
                from edgekit.sweep.engine_ray import run_ray

                summary = run_ray(ray, sweep, store, cache_root, progress=progress)
            else:
                from edgekit.sweep.engine_local import run_local

                summary = run_local(sweep, store, cache_root, jobs=jobs, progress=progress)
        finally:
            if bar is not None:
                bar.stop()
    if json_out:
        print_json({"kind": "sweep_summary", "results": str(output / RESULTS), **summary.to_dict()})
    else:
        for line in summary.lines():
            typer.echo(line, err=line.startswith("  failed"))
        typer.echo(f"results: {output / RESULTS}")
    if summary.failed:
        raise typer.Exit(1)


def plan_lines(p: dict) -> list[str]:
    g = p["grid"]
    lines = [f"grid: {len(g['models'])} model(s) × {len(g['input_sizes'])} size(s) × {len(g['targets'])} target(s) × "
             f"{len(g['precisions'])} precision(s) × {len(g['threads'])} thread count(s) × {len(g['devices'])} device(s)",
             f"cells: {p['cells']} ({p['cells_done']} already done)",
             f"exports: {p['exports']} ({p['exports_cached']} cached)"]
    for name, d in p["devices"].items():
        cost = (f"{d['device_seconds']:.0f} device-seconds of timing" if d["device_seconds"] is not None
                else f"{d['timed_runs']} timed runs")
        lines.append(f"device {name}: {d['cells']} cell(s) to time, {cost}")
    lines += [f"not cells: {s}" for s in p["skipped"]]
    return lines


def _progress_bar(total: int):
    """A rich progress bar on a terminal (None, None otherwise)."""
    if not show_progress() or total <= 0:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn(), console=err_console, transient=True)
    task = bar.add_task("", total=total)
    bar.start()

    def progress(record: dict):
        bar.update(task, advance=1, description=f"{record['key']} {record['status']}")

    return bar, progress


def register(app: typer.Typer) -> None:
    app.command("sweep", epilog=EXAMPLES)(sweep_cmd)

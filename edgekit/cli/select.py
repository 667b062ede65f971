"""`edgekit select DIR --device NAME --max-latency-ms X`: the best cell of a sweep under a budget."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import MAX_SECONDS, JsonOpt, print_json

EXAMPLES = """Examples:

  edgekit select results/ --device pi --max-latency-ms 10

  edgekit select results/ --device pi --max-latency-ms 10 --max-size-kb 4000 --min-top1 50

  edgekit select results/ --device phone --max-latency-ms 5 --json

Exit codes: 0 a configuration fits, 1 none fits the budget, 2 bad input.
"""


def select_cmd(
    results: Path = typer.Argument(..., metavar="DIR", help="Results directory of `edgekit sweep` (or its results.jsonl)."),
    device: str = typer.Option(..., "--device", "-d", help="Device name from the sweep file."),
    max_latency_ms: float = typer.Option(None, "--max-latency-ms", min=0.001, max=MAX_SECONDS * 1000, help="Median latency limit on that device."),
    max_size_kb: float = typer.Option(None, "--max-size-kb", min=0.001, max=1e9, help="Artifact size limit (KiB, all files)."),
    min_top1: float = typer.Option(None, "--min-top1", min=0.0, max=100.0, help="Lowest acceptable top-1 (percent)."),
    runners_up: int = typer.Option(3, "--runners-up", help="How many runners-up to show."),
    json_out: bool = JsonOpt,
):
    """The best configuration (model, size, target, precision, threads) on DEVICE within the budget
    (highest top-1, then lowest latency), the runners-up, and why every other cell was out."""
    from edgekit.errors import EdgekitError
    from edgekit.sweep.select import median_ms, select, size_bytes, top1
    from edgekit.sweep.store import read_records
    from edgekit.sweep.report import size_text

    if runners_up < 0:
        raise EdgekitError(f"--runners-up must be 0 or more (got {runners_up})")
    sel = select(read_records(results), device, max_latency_ms, max_size_kb, min_top1, runners_up)
    if json_out:
        print_json(sel.to_dict())
    else:
        def describe(r):
            c = r["cell"]
            acc = top1(r)
            src = (r.get("accuracy") or {}).get("source", "")
            ms = median_ms(r)
            return (f"{c['model']} {size_text(c)} {c['target']} {c['precision']} {c['threads']} thread(s): "
                    f"{'-' if ms is None else f'{ms:.3f}'} ms, top-1 "
                    f"{'unknown' if acc is None else f'{acc:.2f}%'}{' (published)' if src.startswith('published') else ''}"
                    f", {(size_bytes(r) or 0) / 1024:,.1f} KiB")

        budget = ", ".join(f"{k} {v:g}" for k, v in sel.limits.items()) or "no limits"
        typer.echo(f"device {device}, budget: {budget}; ranked by {sel.ranked_by}")
        if sel.best is None:
            typer.echo("nothing fits the budget")
        else:
            typer.echo(f"best: {describe(sel.best)}")
            export = sel.best.get("export") or {}
            typer.echo(f"  file: {export.get('dir', '?')}/{export.get('file', '?')}")
            for r in sel.runners_up:
                typer.echo(f"runner-up: {describe(r)}")
        for r, why in sel.out:
            typer.echo(f"out: {r['key']}: {'; '.join(why)}")
    if sel.best is None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("select", epilog=EXAMPLES)(select_cmd)

"""`edgekit search SPACE.toml --lut lut/ --device D --max-latency-ms X --data …`: DA-NAS-style search."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import JsonOpt, print_json

EXAMPLES = """Examples:

  edgekit lut edgekit/search/spaces/digits.toml -o lut/ --threads 1

  edgekit search edgekit/search/spaces/digits.toml --lut lut/ --device local --max-latency-ms 0.3 --data digits -o found/

  edgekit export found/net.py:build -w found/net.pth --target tflite

The supernet trains on growing class subsets (easiest first), prunes the weaker half of every layer's
candidates after each stage, and pays for expected latency (the table's entries through the fitted
predictor). Re-running the same command resumes after the last finished stage.
Exit codes: 0 done, 2 a bad space / table / budget no architecture can meet.
"""


def search_cmd(
    space_file: Path = typer.Argument(..., metavar="SPACE.toml", help="The search space."),
    lut: Path = typer.Option(..., "--lut", help="Latency table directory (edgekit lut -o)."),
    device: str = typer.Option("local", "--device", help="Which device's table."),
    max_latency_ms: float = typer.Option(..., "--max-latency-ms", min=0.0, help="Latency budget (predicted, ms)."),
    data: str = typer.Option(..., "--data", help="digits (scikit-learn's, upsampled), an image folder with class "
                             "sub-folders, or an .npz with x and y."),
    output: Path = typer.Option(..., "--output", "-o", help="Search directory (state, stages, net.py, net.pth, report)."),
    threads: int = typer.Option(1, "--threads", min=1, max=1024, help="Thread count the budget is for."),
    epochs: int = typer.Option(3, "--epochs", min=1, max=10000, help="Supernet epochs per stage."),
    final_epochs: int = typer.Option(15, "--final-epochs", min=1, max=10000, help="Epochs for the chosen network."),
    stages: str = typer.Option(None, "--stages", help="Class counts per stage, e.g. 4,7,10 (default: 40/70/100 %)."),
    measure: bool = typer.Option(True, "--measure/--no-measure", help="Export the choice and time it here "
                                 "(local device only)."),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(False, "--force", help="Start over / overwrite a finished search."),
    json_out: bool = JsonOpt,
):
    """Search SPACE.toml for the most accurate architecture whose predicted latency on DEVICE meets the budget;
    write it as a file.py:build module + weights + card that `edgekit export` takes, and a stage report."""
    from edgekit.errors import EdgekitError
    from edgekit.search.danas import search
    from edgekit.search.predict import load_table
    from edgekit.search.space import load_space

    space = load_space(space_file)
    table = load_table(lut, device)
    counts = None
    if stages:
        try:
            counts = [int(v) for v in stages.split(",")]
        except ValueError:
            raise EdgekitError(f"--stages {stages!r}: comma-separated class counts, e.g. 4,7,10") from None

    def progress(message):
        if not json_out:
            typer.echo(message, err=True)

    report = search(space, table, threads=threads, budget_ms=max_latency_ms, data=data, out_dir=output, device=device,
                    epochs=epochs, final_epochs=final_epochs, stages=counts, seed=seed, force=force,
                    progress=progress, measure=measure and device == "local")
    if json_out:
        print_json(report)
        return
    typer.echo(f"chosen: {' / '.join(report['labels'])}: predicted {report['predicted_ms']:.4f} ms "
               f"(budget {max_latency_ms:g}), top-1 {report['top1']} %"
               + (f", measured {report['measured_ms']:.4f} ms" if report.get("measured_ms") is not None else ""))
    typer.echo(f"report: {output / 'report.md'};  export: {report['export']}")


def register(app: typer.Typer) -> None:
    app.command("search", epilog=EXAMPLES)(search_cmd)

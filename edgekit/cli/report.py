"""`edgekit report RESULTS.json... -o DIR`: Markdown and PNG plots from bench/profile/check JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import JsonOpt, console, print_json

EXAMPLES = """Examples:

  edgekit bench out/*.onnx out/*.tflite --json -o bench.json

  edgekit profile out/micronet-m0.onnx --json > profile.json

  edgekit report bench.json profile.json -o report/

  edgekit bench out/micronet-m0.tflite --ssh pi@raspberrypi --json -o pi.json

  edgekit report bench.json pi.json -o report/ --force

  edgekit report results/                # a sweep: accuracy vs latency, MAdds vs latency ranks
"""


def report_cmd(
    results: list[Path] = typer.Argument(..., metavar="RESULTS.json...",
                                         help="JSON written by edgekit bench / profile / check --json, "
                                              "or one `edgekit sweep` results directory."),
    output: Path = typer.Option(None, "--output", "-o", help="Directory to write index.md and the PNGs into "
                                "(default for a sweep: DIR/report)."),
    force: bool = typer.Option(False, "--force", help="Replace DIR if it exists."),
    json_out: bool = JsonOpt,
):
    """Write DIR/index.md with latency-vs-MAdds (Pareto front per runtime), latency distribution
    and per-op plots. DIR appears complete or not at all (built aside, then renamed)."""
    from edgekit.errors import EdgekitError
    from edgekit.report.build import build_report
    from edgekit.report.load import load_results

    if len(results) == 1 and results[0].is_dir():  # an `edgekit sweep` results directory
        from edgekit.sweep.report import build_sweep_report

        output = output or results[0] / "report"
        files = build_sweep_report(results[0], output, force=force)
        if json_out:
            print_json({"kind": "report", "output": str(output), "files": files, "sources": [str(results[0])]})
        else:
            console.print(f"wrote {output / 'index.md'} and {len(files) - 1} plot(s) from sweep {results[0]}")
        return
    if output is None:
        raise EdgekitError("-o DIR is required (where to write index.md and the plots)")
    loaded = load_results(results)
    files = build_report(loaded, output, force=force)
    if json_out:
        print_json({"kind": "report", "output": str(output), "files": files, "bench": len(loaded.bench),
                    "profiles": len(loaded.profiles), "sources": loaded.sources})
    else:
        console.print(f"wrote {output / 'index.md'} and {len(files) - 1} plot(s) "
                      f"from {len(loaded.bench)} bench result(s), {len(loaded.profiles)} profile(s)")


def register(app: typer.Typer) -> None:
    app.command("report", epilog=EXAMPLES)(report_cmd)

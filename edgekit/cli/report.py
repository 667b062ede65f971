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
"""


def report_cmd(
    results: list[Path] = typer.Argument(..., metavar="RESULTS.json...",
                                         help="JSON written by edgekit bench / profile / check --json."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory to write index.md and the PNGs into."),
    force: bool = typer.Option(False, "--force", help="Replace DIR if it exists."),
    json_out: bool = JsonOpt,
):
    """Write DIR/index.md with latency-vs-MAdds (Pareto front per runtime), latency distribution
    and per-op plots. DIR appears complete or not at all (built aside, then renamed)."""
    from edgekit.report.build import build_report
    from edgekit.report.load import load_results

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

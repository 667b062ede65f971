"""`edgekit predict ARCH --lut lut/ --device D`: whole-model latency from a latency table."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import MAX_RUNS, JsonOpt, print_json

EXAMPLES = """Examples:

  edgekit predict search/arch.json --lut lut/ --device local --threads 1

  edgekit predict search/arch.json --lut lut/ --device local --validate 30 --threads 1,2

ARCH is an arch.json written by `edgekit search` (or `--space SPACE.toml --choices 0,2,1`).
--validate N samples N architectures of the table's space, exports and times them whole (with the
calibration architectures, interleaved) and prints RMSPE and the share within ±5 % and ±10 %.
Exit codes: 0 done, 2 a missing block entry, a table of another device / runtime version, or
emulated entries asked for as latencies.
"""


def predict_cmd(
    arch: Path = typer.Argument(None, metavar="ARCH", help="arch.json (from edgekit search); or use --space/--choices."),
    lut: Path = typer.Option(..., "--lut", help="Latency table directory (edgekit lut -o)."),
    device: str = typer.Option("local", "--device", help="Which device's table."),
    threads: str = typer.Option("1", "--threads", help="Thread count(s), e.g. 1 or 1,2."),
    space_file: Path = typer.Option(None, "--space", help="Space file (with --choices, or for --validate)."),
    choices: str = typer.Option(None, "--choices", help="One candidate index per stage, e.g. 0,2,1."),
    runtime_version: str = typer.Option(None, "--runtime-version", help="Refuse a table measured with another runtime "
                                        "version (default for the local device: the installed one)."),
    validate: int = typer.Option(0, "--validate", min=0, max=10000, help="Sample N architectures, measure them whole, "
                                 "print RMSPE and shares within ±5 %/±10 %."),
    runs: int = typer.Option(100, "--runs", min=1, max=MAX_RUNS, help="Timed runs per architecture (--validate)."),
    seed: int = typer.Option(1, "--seed", help="Sampling seed (--validate)."),
    allow_emulated: bool = typer.Option(False, "--allow-emulated", help="Show an emulated table's numbers, marked "
                                        "emulated (never a latency)."),
    json_out: bool = JsonOpt,
):
    """Predict an architecture's latency on a device: the sum of its blocks' table entries plus the runtime's
    correction fitted on whole-model measurements; with --validate, check the predictor on N sampled architectures."""
    from edgekit.errors import EdgekitError
    from edgekit.runtimes.bench import parse_threads
    from edgekit.search.arch import read_arch
    from edgekit.search.predict import load_table, predict_blocks, validate as run_validate

    counts = parse_threads(threads)
    table = load_table(lut, device, allow_emulated=allow_emulated)
    cond = next(iter(table.conditions()))
    if runtime_version is None and device == "local" and not cond.get("emulated"):
        from edgekit.runtimes.bench import _runtime_version

        runtime_version = _runtime_version(cond["runtime"])
    table = load_table(lut, device, runtime_version, allow_emulated)
    target = next(iter(table.blocks.values()))["target"]
    space = None
    if space_file is not None:
        from edgekit.search.space import load_space

        space = load_space(space_file)
    if validate:
        if space is None:
            if not table.space:
                raise EdgekitError(f"--validate needs --space SPACE.toml (no space.json next to {table.path})")
            from edgekit.search.space import load_space

            space = load_space(table.space["path"])
        if device != "local":
            raise EdgekitError("--validate measures on this machine: use --device local (remote validation: "
                               "edgekit lut --ssh, then validate there)")

        def progress(message, done, total):
            if not json_out:
                typer.echo(f"[{done}/{total}] {message}", err=True)

        report = run_validate(space, lut, device, validate, counts, target, runs=runs, seed=seed, progress=progress)
        if json_out:
            print_json({"kind": "predict_validation", **report})
            return
        for t, r in report["threads"].items():
            c = r["correction"]
            typer.echo(f"{device} {target} t{t}: {r['n']} architectures, RMSPE {r['rmspe_pct']:.1f} %, "
                       f"{r['within_5_pct']:.0f} % within ±5 %, {r['within_10_pct']:.0f} % within ±10 % "
                       f"(correction: {c['alpha']:.3f} × Σblocks + {c['beta']:.4f} ms from {c['n']} calibration "
                       f"architectures)")
        return
    if arch is not None:
        a = read_arch(arch)
        blocks = [(b["spec"], tuple(b["input"])) for b in a["blocks"]]
    elif space is not None and choices:
        try:
            idx = [int(v) for v in choices.split(",")]
        except ValueError:
            raise EdgekitError(f"--choices {choices!r}: one integer per stage, comma-separated") from None
        blocks = space.architecture(idx)
    else:
        raise EdgekitError("give ARCH (arch.json), or --space SPACE.toml --choices I,J,..., or --validate N")
    out = [predict_blocks(table, blocks, t) for t in counts]
    emulated = bool(cond.get("emulated"))
    if json_out:
        print_json({"kind": "predict", "emulated": emulated, "results": out})
        return
    for p in out:
        c = p["correction"]
        typer.echo(f"{device} t{p['threads']}: {p['predicted_ms']:.4f} ms predicted"
                   f"{' (EMULATED: not a latency)' if emulated else ''} = {c['alpha']:.3f} × {p['block_sum_ms']:.4f} "
                   f"ms (Σ {len(p['blocks'])} blocks) + {c['beta']:.4f} ms")


def register(app: typer.Typer) -> None:
    app.command("predict", epilog=EXAMPLES)(predict_cmd)

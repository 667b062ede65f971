"""`edgekit lut SPACE.toml -o lut/`: a latency table of the space's blocks on one device."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from edgekit.cli.common import MAX_RUNS, JsonOpt, print_json

EXAMPLES = """Examples:

  edgekit lut examples/space_digits.toml -o lut/ --target tflite --threads 1,2

  edgekit lut examples/space_digits.toml -o lut/ --ssh pi@raspberrypi --device pi

  edgekit predict arch.json --lut lut/ --device local --validate 30

Every distinct (block, input shape) of the space is exported through edgekit's rewrite + export and
timed with `edgekit bench`'s interleaved timing, with a few whole architectures (--calibrate) for the
predictor's correction. Re-running resumes; tables of several devices share one directory.
Exit codes: 0 done, 2 the space file or an option is wrong.
"""


def device_name_for(device: str | None, ssh: str | None) -> str:
    if device:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", device):
            from edgekit.errors import EdgekitError

            raise EdgekitError(f"--device {device!r}: use letters, digits, '.', '_' or '-'")
        return device
    if ssh:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", ssh)
    return "local"


def lut_cmd(
    space_file: Path = typer.Argument(..., metavar="SPACE.toml", help="The search space (see docs/sweeps-and-search.md)."),
    output: Path = typer.Option(..., "--output", "-o", help="Table directory (DEVICE/results.jsonl + exports/)."),
    target: str = typer.Option("tflite", "--target", "-t", help="onnx | tflite | openvino."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | int8 (int8: synthetic calibration)."),
    threads: str = typer.Option("1", "--threads", help="Thread counts, e.g. 1 or 1,2."),
    device: str = typer.Option(None, "--device", help="Name of this table's device (default: local, or the --ssh host)."),
    ssh: str = typer.Option(None, "--ssh", metavar="USER@HOST[:PORT]", help="Time on a device over SSH."),
    ssh_key: str = typer.Option(None, "--ssh-key", help="Private key for --ssh."),
    runs: int = typer.Option(100, "--runs", min=1, max=MAX_RUNS, help="Timed runs per block and thread count."),
    warmup: int = typer.Option(10, "--warmup", min=0, max=MAX_RUNS, help="Untimed runs first."),
    calibrate: int = typer.Option(5, "--calibrate", min=0, max=1000, help="Whole architectures timed with the blocks "
                                  "(the predictor's correction is fitted on them)."),
    json_out: bool = JsonOpt,
):
    """Export every distinct block × input shape of SPACE.toml and time it on the device, interleaved; each entry
    records its run conditions (runtime + version, threads, delegate, CPU, governor, emulated)."""
    from edgekit.errors import EdgekitError
    from edgekit.runtimes.bench import parse_threads
    from edgekit.search.lut import build_lut
    from edgekit.search.space import load_space
    from edgekit.sweep.grid import Device

    if target not in ("onnx", "tflite", "openvino"):
        raise EdgekitError(f"--target must be onnx, tflite or openvino (got {target!r})")
    if precision not in ("fp32", "int8"):
        raise EdgekitError(f"--precision must be fp32 or int8 (got {precision!r})")
    if ssh_key and not ssh:
        raise EdgekitError("--ssh-key needs --ssh")
    counts = parse_threads(threads)
    space = load_space(space_file)
    name = device_name_for(device, ssh)
    dev = Device(name, "ssh", address=ssh, key=ssh_key) if ssh else Device(name)

    def progress(message, done, total):
        if not json_out:
            typer.echo(f"[{done}/{total}] {message}", err=True)

    summary = build_lut(space, output, target, precision, counts, name, dev, runs, warmup, calibrate,
                        progress=progress)
    if json_out:
        print_json({"kind": "lut_summary", "device": name, **{k: v for k, v in summary.items() if k != "records"}})
        return
    typer.echo(f"{space.name}: {summary['blocks']} distinct blocks + {calibrate} calibration architectures × "
               f"{len(counts)} thread count(s); {summary['measured']} timed now, {summary['already']} already in "
               f"the table; exports: {summary['exports_fresh']} new")
    for r in summary["records"]:
        c = r["conditions"]
        typer.echo(f"  {r['role']:5} {r['label']:38} t{r['threads']}  {r['latency_ms']['median']:.4f} ms  "
                   f"{c['runtime']} {c['runtime_version']}{'  EMULATED' if c['emulated'] else ''}")
    typer.echo(f"table: {output / name / 'results.jsonl'}")


def register(app: typer.Typer) -> None:
    app.command("lut", epilog=EXAMPLES)(lut_cmd)

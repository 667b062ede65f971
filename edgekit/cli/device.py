"""`edgekit device setup|show`: the emulated aarch64 device (edgekit.runtimes.remote.emulated)."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import JsonOpt, err_console, print_json

EXAMPLES = """Examples:

  edgekit device setup                                   # ~/.cache/edgekit/aarch64, ai-edge-litert

  edgekit device setup --runtime litert --runtime tflite-runtime --runtime onnxruntime --runtime openvino

  edgekit device show --json

  EDGEKIT_SSH_PYTHON=~/.cache/edgekit/aarch64/bin/python-litert \\
      edgekit bench out/micronet-m0.tflite --ssh $USER@127.0.0.1 --parity
"""

CacheOpt = typer.Option(Path("~/.cache/edgekit/aarch64"), "--cache", help="Where the userland and runtimes live.")

device_app = typer.Typer(help="An emulated aarch64 device (Debian bookworm arm64 + qemu-user) reached like a board.",
                         no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})


@device_app.command("setup", epilog=EXAMPLES)
def setup_cmd(
    cache: Path = CacheOpt,
    runtime: list[str] = typer.Option(None, "--runtime", "-r", help="litert | tflite-runtime | openvino | onnxruntime "
                                      "(repeat; default litert)."),
    mirror: str = typer.Option(None, "--mirror", help="Debian mirror (default: the one apt uses)."),
    json_out: bool = JsonOpt,
):
    """Build (once) a Debian bookworm arm64 userland with Python 3.11 and the aarch64 wheels of each
    runtime, as a Raspberry Pi OS bookworm board has them. Needs root, qemu-user-static and
    debootstrap (apt-get install qemu-user-static debootstrap). Cached and atomic: run it again and
    it only adds what is missing."""
    from edgekit.runtimes.remote.emulated import setup_device

    say = None if json_out else (lambda msg: err_console.print(msg, markup=False, highlight=False))
    device = setup_device(cache, runtimes=tuple(runtime or ("litert",)), mirror=mirror, log=say)
    _show(device, json_out)


@device_app.command("show", epilog=EXAMPLES)
def show_cmd(cache: Path = CacheOpt, json_out: bool = JsonOpt):
    """The device in --cache: its runtimes and the interpreter to name in EDGEKIT_SSH_PYTHON."""
    from edgekit.runtimes.remote.emulated import open_device

    _show(open_device(cache), json_out)


def _show(device, json_out: bool) -> None:
    info = device.to_dict()
    if json_out:
        print_json(info)
        return
    typer.echo(f"emulated aarch64 device in {info['cache']} (timings there are emulated, never latencies)")
    for name, rt in info["runtimes"].items():
        pkgs = ", ".join(f"{k} {v}" for k, v in rt["packages"].items())
        typer.echo(f"  {name:<15} EDGEKIT_SSH_PYTHON={rt['python']}  ({pkgs})")


def register(app: typer.Typer) -> None:
    app.add_typer(device_app, name="device")

"""`edgekit device setup|show`: the emulated aarch64 device (edgekit.runtimes.remote.emulated)."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import JsonOpt, print_json

EXAMPLES = """Examples:

  edgekit device setup                                   # ~/.cache/edgekit/aarch64, ai-edge-litert

  edgekit device setup --runtime litert --runtime tflite-runtime --runtime onnxruntime --runtime openvino

  edgekit device show --json

  edgekit device serve          # an sshd on 127.0.0.1: prints the `edgekit bench --ssh ... --parity` lines
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
    cpu: str = typer.Option("cortex-a72", "--cpu", help="Emulated core: cortex-a72 (Raspberry Pi 4), cortex-a76 "
                            "(Pi 5), cortex-a53 (Pi 3 / Zero 2 W)."),
    json_out: bool = JsonOpt,
):
    """Build (once) a Debian bookworm arm64 userland with Python 3.11 and the aarch64 wheels of each
    runtime, as a Raspberry Pi OS bookworm board has them. Needs root, qemu-user-static and
    debootstrap (apt-get install qemu-user-static debootstrap). Cached and atomic: run it again and
    it only adds what is missing."""
    from edgekit.runtimes.remote.emulated import setup_device

    say = None if json_out else (lambda msg: typer.echo(msg, err=True))
    device = setup_device(cache, runtimes=tuple(runtime or ("litert",)), mirror=mirror, log=say, cpu=cpu)
    _show(device, json_out)


@device_app.command("show", epilog=EXAMPLES)
def show_cmd(cache: Path = CacheOpt, json_out: bool = JsonOpt):
    """The device in --cache: its runtimes and the interpreter to name in EDGEKIT_SSH_PYTHON."""
    from edgekit.runtimes.remote.emulated import open_device

    _show(open_device(cache), json_out)


@device_app.command("serve", epilog=EXAMPLES)
def serve_cmd(cache: Path = CacheOpt,
              workdir: Path = typer.Option(Path("~/.cache/edgekit/aarch64-ssh"), "--dir",
                                           help="Where the server's keys, config and log live.")):
    """Reach the emulated device like a board: an OpenSSH server on 127.0.0.1 (its own keys, key
    authentication only, this user only) until Ctrl-C; prints the `edgekit bench --ssh` line per runtime."""
    from edgekit.runtimes.remote.emulated import open_device
    from edgekit.runtimes.remote.loopback import start_sshd

    device = open_device(cache)
    server = start_sshd(workdir.expanduser())
    try:
        typer.echo(f"emulated aarch64 device at {server.target} (key {server.key}); Ctrl-C stops it")
        for name in device.runtimes:
            typer.echo(f"  EDGEKIT_KNOWN_HOSTS={server.known_hosts} EDGEKIT_SSH_PYTHON={device.python(name)} "
                       f"edgekit bench FILE --ssh {server.target} --ssh-key {server.key} --parity")
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


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

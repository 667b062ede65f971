"""The `edgekit` command: a thin typer layer over the Python API.

Each command lives in its own module under edgekit/cli and exposes `register(app)`. Command
modules import heavy libraries (torch, runtimes) inside the command, never at import time, so
`edgekit bench` works on a device that has only numpy and one runtime.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
import warnings

import typer

from edgekit import __version__
from edgekit.errors import EdgekitError

# In --help order. A module not written yet is skipped.
COMMANDS = ("models", "flops", "rewrite", "export", "inspect", "eval", "bench", "profile", "check", "report", "device", "sweep", "select", "stream", "lut", "predict", "search")

app = typer.Typer(
    name="edgekit",
    help="Put dynamic lightweight CNNs (MicroNet, DY-ReLU, DY-Conv) on edge devices.\n\n"
    "Typical use:\n\n"
    "  edgekit export micronet-m0 --target tflite\n\n"
    "  edgekit bench m0.tflite --ssh pi@raspberrypi\n\n"
    "  edgekit check budget.toml",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version.")):
    pass


for _name in COMMANDS:
    try:
        _module = importlib.import_module(f"edgekit.cli.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"edgekit.cli.{_name}":
            raise
        continue
    _module.register(app)


# Optional dependencies → the extra that installs them (a device may have only numpy + a runtime).
_OPTIONAL_DEPS = {"torch": "export", "onnx": "export", "onnxscript": "export", "onnxslim": "export",
                  "litert_torch": "export", "nncf": "export", "PIL": "export", "matplotlib": "report",
                  "onnxruntime": "onnxruntime", "ai_edge_litert": "litert", "openvino": "openvino"}


_NOISY_LOGGERS = ("torch", "torchao", "absl", "nncf", "litert_torch", "ai_edge_quantizer", "onnxscript", "tensorflow")


@contextlib.contextmanager
def _quiet_libraries():
    """Keep converter chatter (C++ log lines, deprecation warnings) off the user's terminal.

    Native code writes to file descriptor 2, which goes to a temporary log for the duration of the
    command; Python's sys.stderr (edgekit's own messages, progress bars) keeps the real terminal.
    The log is replayed when the command crashes, and EDGEKIT_DEBUG=1 turns all of this off.
    """
    if os.environ.get("EDGEKIT_DEBUG"):
        yield
        return
    # TORCH_LOGS=-all: torch (re)configures its own loggers when it is imported, later than this, so
    # only its environment variable keeps torch.utils._pytree's deprecation warnings quiet.
    for var, value in (("TF_CPP_MIN_LOG_LEVEL", "2"), ("GLOG_minloglevel", "2"), ("TORCH_LOGS", "-all")):
        os.environ.setdefault(var, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|torchao|onnxscript|nncf|litert_torch)")
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        sys.stderr.flush()
        real_fd = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded use): nothing to redirect
        yield
        return
    log = tempfile.TemporaryFile()
    saved = sys.stderr
    sys.stderr = os.fdopen(real_fd, "w", buffering=1, encoding=getattr(saved, "encoding", None) or "utf-8",
                           errors="replace")
    os.dup2(log.fileno(), 2)
    crashed = False
    try:
        yield
    except BaseException as exc:
        crashed = not isinstance(exc, (EdgekitError, SystemExit, KeyboardInterrupt))
        raise
    finally:
        sys.stderr.flush()
        os.dup2(real_fd, 2)
        if crashed:
            log.seek(0)
            tail = log.read()[-20000:].decode("utf-8", "replace")
            if tail.strip():
                sys.stderr.write("--- native log of the failed command ---\n" + tail + "\n")
                sys.stderr.flush()
        sys.stderr = saved
        log.close()


def _click_exceptions():
    try:  # typer >= 0.26 carries its own copy of click
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def _usage_line(exc) -> str:
    """A click usage error as one line: 'error: edgekit export: --input-size: ... (see edgekit export --help)'."""
    path = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "edgekit"
    message = " ".join(exc.format_message().split())
    return f"error: {path}: {message} (see {path} --help)"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become one line on stderr and exit code 2."""
    click_exc = _click_exceptions()
    try:
        with _quiet_libraries():
            rc = app(args=argv, prog_name="edgekit", standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)  # as click's standalone mode ends
    except click_exc.NoArgsIsHelpError as exc:  # `edgekit` or `edgekit export` alone: the help
        typer.echo(exc.ctx.get_help())
        sys.exit(2)
    except click_exc.ClickException as exc:  # bad option value, unknown option/command, missing argument
        typer.echo(_usage_line(exc) if isinstance(exc, click_exc.UsageError) else f"error: {exc.format_message()}",
                   err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except EdgekitError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        if exc.name not in _OPTIONAL_DEPS:
            raise
        typer.echo(f"error: this command needs {exc.name}, which is not installed: "
                   f"pip install -c constraints.txt 'edgekit[{_OPTIONAL_DEPS[exc.name]}]'", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()

"""Helpers shared by the command modules: consoles, JSON output, the common model options."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

ModelArg = typer.Argument(..., metavar="MODEL", help="Zoo name (see `edgekit models`), file.py:factory or module:factory.")
WeightsOpt = typer.Option(None, "--weights", "-w", help="Checkpoint (.pth/.pt): bare state_dict or {'state_dict': ...}.")
NumClassesOpt = typer.Option(None, "--num-classes", help="Classifier size (default: the card's, or the checkpoint's).")
InputSizeOpt = typer.Option(None, "--input-size", help="Square input resolution (default: the card's).")
InputShapeOpt = typer.Option(None, "--input-shape", help="C,H,W for a model without a card (e.g. 3,224,224); "
                                                          "C,T,H,W for a video clip (3,8,112,112).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


def human(n: float | int | None, unit: str = "") -> str:
    """1234567 → '1.23M'."""
    if n is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


def show_progress() -> bool:
    """Progress bars only for a person at a terminal."""
    return sys.stderr.isatty()

"""Helpers shared by the command modules: consoles, JSON output, the common model options."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

class _Console(Console):
    """rich's Console, except that on a pipe or file (not a terminal) a table is printed as TSV —
    a '# title' line, a header row, then one tab-separated row each, every cell whole — and text
    is never wrapped: rich would squeeze both into 80 columns and cut cells ('4,396…')."""

    def print(self, *objects, **kwargs):
        from rich.table import Table

        if self.is_terminal or not any(isinstance(o, Table) for o in objects):
            return super().print(*objects, **kwargs)
        for o in objects:
            if isinstance(o, Table):
                self.file.write(table_tsv(o))
                self.file.flush()
            else:
                super().print(o, **kwargs)


def _plain(cell) -> str:
    from rich.text import Text

    text = cell.plain if isinstance(cell, Text) else Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)
    return " ".join(text.split())  # a tab or newline inside a cell would break the row


def table_tsv(table) -> str:
    """A rich Table as TSV: optional '# title' line, header, rows (markup removed)."""
    lines = [f"# {_plain(table.title)}"] if table.title else []
    columns = table.columns
    lines.append("\t".join(_plain(c.header) for c in columns))
    for i in range(table.row_count):
        lines.append("\t".join(_plain(c._cells[i]) if i < len(c._cells) else "" for c in columns))
    return "\n".join(lines) + "\n"


console = _Console(soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True)

# Bounds of the numeric options: a value outside is one line on stderr and exit 2, before any work.
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 8, 4096
MAX_THREADS = 1024
MAX_RUNS = 10_000_000
MAX_SECONDS = 86_400.0
MAX_OPSET = 23  # newest opset torch.onnx 2.13 writes and onnxruntime 1.32 loads

ModelArg = typer.Argument(..., metavar="MODEL", help="Zoo name (see `edgekit models`), file.py:factory or module:factory.")
WeightsOpt = typer.Option(None, "--weights", "-w", help="Checkpoint (.pth/.pt): bare state_dict or {'state_dict': ...}.")
NumClassesOpt = typer.Option(None, "--num-classes", min=1, max=1_000_000, help="Classifier size (default: the card's, or the checkpoint's).")
InputSizeOpt = typer.Option(None, "--input-size", min=MIN_INPUT_SIZE, max=MAX_INPUT_SIZE, help="Square input resolution (default: the card's).")
InputShapeOpt = typer.Option(None, "--input-shape", help="C,H,W for a model without a card (e.g. 3,224,224); "
                                                          "C,T,H,W for a video clip (3,8,112,112).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
# Several inputs: --input-shape repeated in forward's order, or --input NAME=SHAPE[:DTYPE] repeated.
InputShapesOpt = typer.Option(None, "--input-shape", help="C,H,W for a model without a card (e.g. 3,224,224); "
                                                          "C,T,H,W for a video clip (3,8,112,112). Repeat it for "
                                                          "each input of forward(), in order.")
InputOpt = typer.Option(None, "--input", metavar="NAME=SHAPE[:DTYPE]",
                        help="A named input, repeatable: --input image=3,64,64 --input tokens=12:int64 "
                             "(names are forward()'s parameters; dtype float32, int64 or int32).")


def input_shape_arg(shapes):
    """One --input-shape as the classic string, several as a list, none as None."""
    shapes = list(shapes or [])
    return None if not shapes else shapes[0] if len(shapes) == 1 else shapes


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

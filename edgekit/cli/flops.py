"""`edgekit flops MODEL`: parameters and multiply-adds against the model's target."""

from __future__ import annotations

import typer

from edgekit.cli.common import (InputOpt, InputShapesOpt, InputSizeOpt, input_shape_arg, JsonOpt, ModelArg, NumClassesOpt, WeightsOpt, console,
                                human, print_json)

EXAMPLES = """Examples:

  edgekit flops micronet-m0

  edgekit flops micronet-m3 --input-size 160 --per-layer

  edgekit flops mynet.py:build --input-shape 3,96,96 --json

  edgekit flops c3d-small                              # video: Conv3D MAdds on a 3x8x112x112 clip

  edgekit flops myclipnet.py:build --input-shape 3,16,112,112
"""


def flops_cmd(
    model: str = ModelArg,
    weights: str = WeightsOpt,
    num_classes: int = NumClassesOpt,
    input_size: int = InputSizeOpt,
    input_shape: list[str] = InputShapesOpt,
    input: list[str] = InputOpt,
    per_layer: bool = typer.Option(False, "--per-layer", help="One row per conv / linear / dynamic op."),
    json_out: bool = JsonOpt,
):
    """Count parameters, conv+linear MAdds (the published convention) and dynamic element-wise MAdds."""
    from edgekit.analysis.flops import count_madds
    from edgekit.models.registry import get_card, is_registered
    from edgekit.models.source import load_model

    net, card = load_model(model, weights=weights, num_classes=num_classes, input_size=input_size,
                           input_shape=input_shape_arg(input_shape), inputs=list(input or []) or None)
    report = count_madds(net, card.input_size if card.io.is_single else card.io)
    target = card.madds_target
    if target is not None and is_registered(model) and tuple(card.input_size) != tuple(get_card(model).input_size):
        target = None  # the published target is for the card's own input (224x224, or a clip's T×H×W)
    result = {"model": card.name, **report.to_dict(per_layer=per_layer), "madds_target": target,
              "ratio_to_target": (report.total_madds / target) if target else None}
    if json_out:
        print_json(result)
        return
    if per_layer:
        from rich.table import Table

        table = Table(title=f"{card.name} per layer")
        for col in ("layer", "op", "output", "params", "MAdds", "dynamic"):
            table.add_column(col, justify="right" if col in ("params", "MAdds", "dynamic") else "left")
        for layer in report.layers:
            table.add_row(layer.name, layer.kind, "x".join(map(str, layer.output_shape)), f"{layer.params:,}",
                          f"{layer.conv:,}", f"{layer.dynamic:,}")
        console.print(table)
    inputs = ", ".join(f"{s.name} {'x'.join(map(str, s.shape))}" + ("" if s.dtype == "float32" else f" {s.dtype}")
                       for s in card.io.inputs) if not card.io.is_single else "x".join(map(str, card.input_size))
    console.print(f"[bold]{card.name}[/] input {inputs}")
    console.print(f"  parameters         {report.params:>14,}")
    console.print(f"  conv+linear MAdds  {report.conv_madds:>14,}")
    console.print(f"  dynamic MAdds      {report.dynamic_madds:>14,}  (Shift-Max / DY-ReLU / DY-Conv element-wise)")
    console.print(f"  total              {report.total_madds:>14,}")
    if target:
        console.print(f"  target             {target:>14,}  ({human(target)}; total is {report.total_madds / target:.2f}x)")


def register(app: typer.Typer) -> None:
    app.command("flops", epilog=EXAMPLES)(flops_cmd)

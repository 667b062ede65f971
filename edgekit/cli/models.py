"""`edgekit models`: the zoo as a table."""

from __future__ import annotations

import typer

from edgekit.cli.common import JsonOpt, console, human, print_json

EXAMPLES = """Examples:

  edgekit models

  edgekit models 'micronet-*' --json
"""


def models_cmd(
    pattern: str = typer.Argument(None, help="Glob filter, e.g. 'micronet-*'."),
    json_out: bool = JsonOpt,
):
    """List zoo models: parameters, MAdds, input and the published MAdds target."""
    from rich.table import Table

    from edgekit.analysis.flops import count_madds
    from edgekit.models import create_model, list_models

    rows = []
    for name in list_models(pattern):
        model = create_model(name)
        card = model.card
        io = card.io
        report = count_madds(model, card.input_size if io.is_single else io)
        rows.append({
            "name": name,
            "family": card.family,
            "params": report.params,
            "conv_madds": report.conv_madds,
            "dynamic_madds": report.dynamic_madds,
            "input": list(card.input_size),
            **({} if io.is_single else {"inputs": [s.to_dict() for s in io.inputs],
                                       "outputs": [o.to_dict() for o in io.outputs]}),
            "madds_target": card.madds_target,
            "published_top1": card.published_top1,
        })
    if json_out:
        print_json(rows)
        return
    table = Table(title="edgekit model zoo")
    for col in ("model", "params", "MAdds conv+lin", "MAdds dynamic", "input", "target MAdds", "top-1 (paper)"):
        table.add_column(col, justify="left" if col in ("model", "input") else "right", no_wrap=True)
    for r in rows:
        table.add_row(r["name"], human(r["params"]), human(r["conv_madds"]), human(r["dynamic_madds"]),
                      ", ".join(f"{s['name']} " + "x".join(map(str, s["shape"])) for s in r["inputs"]) if "inputs" in r
                      else "x".join(map(str, r["input"])), human(r["madds_target"]),
                      "-" if r["published_top1"] is None else f"{r['published_top1']:.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("models", epilog=EXAMPLES)(models_cmd)

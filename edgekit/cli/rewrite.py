"""`edgekit rewrite MODEL`: run the export rewrites and show what each pass changed."""

from __future__ import annotations

import typer

from edgekit.cli.common import (InputOpt, InputShapesOpt, InputSizeOpt, input_shape_arg, JsonOpt, ModelArg, NumClassesOpt, WeightsOpt, console,
                                print_json)

EXAMPLES = """Examples:

  edgekit rewrite micronet-m0

  edgekit rewrite micronet-m3 --target tflite --report

  edgekit rewrite mynet.py:build --input-shape 3,96,96 --json

  edgekit rewrite resnet18-dyconv --target openvino --tune-forms --report
"""



def rewrite_cmd(
    model: str = ModelArg,
    weights: str = WeightsOpt,
    num_classes: int = NumClassesOpt,
    input_size: int = InputSizeOpt,
    input_shape: list[str] = InputShapesOpt,
    input: list[str] = InputOpt,
    target: str = typer.Option("onnx", "--target", "-t", help="onnx | tflite | openvino: passes and forms differ."),
    report: bool = typer.Option(False, "--report", help="Also list every aten op whose count changed, per pass."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the equivalence check after each pass."),
    tune_forms: bool = typer.Option(False, "--tune-forms",
                                    help="Pick each DY-Conv layer's static form by timing the candidates on the "
                                         "--target runtime (slow; default: a measured rule)."),
    json_out: bool = JsonOpt,
):
    """Rewrite a model into its static export form; per pass: ops, MAdds, and the difference from the
    original in float64 (the exactness proof, bound 1e-9 x output scale) and in float32 (measured)."""
    from edgekit.errors import EdgekitError
    from edgekit.models.source import load_model
    from edgekit.rewrite.pipeline import TARGETS, rewrite_for_export
    from edgekit.rewrite.verify import EXACT_TOL

    if target not in TARGETS:
        raise EdgekitError(f"--target {target!r} is not one of {', '.join(TARGETS)}")
    net, card = load_model(model, weights=weights, num_classes=num_classes, input_size=input_size,
                           input_shape=input_shape_arg(input_shape), inputs=list(input or []) or None)
    shape = card.input_size if card.io.is_single else card.io  # several inputs: every proof runs on all of them
    _, log = rewrite_for_export(net, shape, target=target, verify=not no_verify, tune=tune_forms)
    first, last = log[0], log[-1]
    summary = {
        "model": card.name, "target": target, "input_size": list(card.input_size),
        "madds_before": first.madds_before, "madds_after": last.madds_after,
        "gathers_before": _gathers(first.ops_before), "gathers_after": _gathers(last.ops_after),
        "max_abs_diff": max((r.max_abs_diff for r in log), default=0.0),  # float32, measured
        "exact_diff": max((r.exact_diff for r in log), default=0.0),  # float64 proof, bounded by exact_bound
        "exact_bound": EXACT_TOL,
        "verified": not no_verify,
        "ops_counted_as": "aten ops executed by one batch-1 forward pass",
        "passes": [r.to_dict() for r in log],
    }
    if json_out:
        print_json(summary)
        return
    from rich.table import Table

    def verified(r) -> bool:
        return not no_verify and r.changed > 0

    table = Table(title=f"{card.name} → {target} ({'x'.join(map(str, card.input_size))})")
    for col in ("pass", "changed", "ops", "MAdds", "Δ MAdds", "float64 |Δ|/scale", "float32 |Δ|/scale", "s"):
        table.add_column(col, justify="left" if col == "pass" else "right", no_wrap=col == "pass")
    for r in log:
        ops_b, ops_a = sum(r.ops_before.values()), sum(r.ops_after.values())
        table.add_row(r.name, str(r.changed), f"{ops_b} → {ops_a}", f"{r.madds_after:,}",
                      f"{r.madds_after - r.madds_before:+,}", f"{r.exact_diff:.1e}" if verified(r) else "-",
                      f"{r.max_abs_diff:.2e}" if verified(r) else "-", f"{r.seconds:.2f}")
    console.print(table)
    if no_verify:
        console.print("not verified (--no-verify): no float64 proof, no float32 difference measured")
    else:
        console.print(f"exact in float64: every pass within {EXACT_TOL:.0e} x output scale (worst "
                      f"{summary['exact_diff']:.1e}); float32 difference {summary['max_abs_diff']:.2e} x output scale "
                      "(rounding, reported not judged)")
    console.print(f"gather/index ops {summary['gathers_before']} → {summary['gathers_after']}; "
                  f"MAdds {summary['madds_before']:,} → {summary['madds_after']:,} "
                  f"(overhead {summary['madds_after'] - summary['madds_before']:+,})")
    if report:
        from edgekit.rewrite.forms_report import form_lines

        for r in log:
            for line in form_lines(r.details):
                console.print(line, markup=False, highlight=False)
        for r in log:
            keys = sorted(set(r.ops_before) | set(r.ops_after))
            delta = {k: (r.ops_before.get(k, 0), r.ops_after.get(k, 0)) for k in keys
                     if r.ops_before.get(k, 0) != r.ops_after.get(k, 0)}
            if delta:
                console.print(f"[bold]{r.name}[/]: " + ", ".join(f"{k} {a}→{b}" for k, (a, b) in delta.items()))


def _gathers(ops: dict) -> int:
    from edgekit.rewrite.verify import GATHER_OPS

    return sum(n for op, n in ops.items() if op in GATHER_OPS)


def register(app: typer.Typer) -> None:
    app.command("rewrite", epilog=EXAMPLES)(rewrite_cmd)

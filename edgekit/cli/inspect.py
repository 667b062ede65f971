"""`edgekit inspect FILE`: op census, inputs/outputs, graph MAdds, metadata, delegate coverage."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from edgekit.analysis.xnnpack_why import why_lines
from edgekit.cli.common import JsonOpt, console, human, print_json

EXAMPLES = """Examples:

  edgekit inspect m0.tflite

  edgekit inspect m0.onnx --json

  edgekit inspect m0.xml

  edgekit inspect m0.pte
"""


def inspect_cmd(
    file: Path = typer.Argument(..., metavar="FILE", help="Model file (.onnx, .tflite, .xml, .pte)."),
    json_out: bool = JsonOpt,
):
    """What a model file holds: ops by type, inputs/outputs, MAdds counted from the graph, embedded
    and sidecar metadata; for .tflite and .pte, XNNPACK partitions (delegate calls) and the ops left on default kernels."""
    from edgekit.analysis.inspect import inspect_file

    r = inspect_file(file)
    if json_out:
        print_json(r)
        return
    out = console if console.is_terminal else Console(width=160)
    out.print(f"[bold]{r['name']}[/] ({r['format']}, {human(r['size_bytes'], 'B')}"
              + (f", {' + '.join(r['files'])}" if len(r["files"]) > 1 else "") + ")")
    for kind in ("inputs", "outputs"):
        for t in r.get(kind) or []:
            shape = "x".join(str(d) for d in t["shape"])
            q = f" q={t['quantization']}" if t.get("quantization") else ""
            out.print(f"  {kind[:-1]:<6} {t['name']}: {shape} {t['dtype']}{q}")
    census = r["census"]
    ops = census.get("ops") or {}
    total = census.get("ops_total", census.get("nodes", sum(ops.values())))
    out.print(f"  ops     {total} nodes, {len(ops)} types: "
              + ", ".join(f"{k} {v}" for k, v in list(ops.items())[:12]) + (" ..." if len(ops) > 12 else ""))
    watched = [f"{k} {census[k]}" for k in ("transpose", "reshape", "gather") if k in census]
    if watched:
        out.print(f"  watched {', '.join(watched)}")
    if r.get("graph_madds") is not None:
        out.print(f"  MAdds   {r['graph_madds']:,} ({human(r['graph_madds'])}) counted from the graph (conv + linear)")
    d = r.get("delegate")
    if d:
        left = ", ".join(f"{k} {v}" for k, v in (d.get("default_kernel_by_type") or {}).items()) or "none"
        verdict = "[green]fully delegated[/]" if d.get("fully_delegated") else "[yellow]not fully delegated[/]"
        out.print(f"  {d.get('name', 'delegate')} {d['partitions']} partition(s), {d['delegated_ops']} ops delegated, "
                  f"{d['default_kernel_ops']} on default kernels ({left}): {verdict}")
        for line in why_lines(d):
            out.print(f"  default {line}", markup=False, highlight=False)
    need = r.get("runtime_compat")
    if need:
        out.print(f"  needs   {compat_line(need)}", markup=False, highlight=False)
    side = r.get("sidecar") or {}
    if side:
        bits = [f"{k}={side[k]}" for k in ("model", "precision", "target", "layout") if side.get(k)]
        if side.get("madds_target"):
            bits.append(f"madds_target={human(side['madds_target'])}")
        out.print(f"  sidecar {', '.join(bits)}")
    for w in r.get("warnings") or []:
        out.print(f"  warning {w}", markup=False, highlight=False, style="yellow")
    for k, v in (r.get("metadata") or {}).items():
        text = str(v).replace("\n", " ")
        out.print(f"  meta    {k}: {text[:100]}{'...' if len(text) > 100 else ''}")


def compat_line(need: dict) -> str:
    """'tflite-runtime >= 2.9.0 (CONV_2D v6) ...' from analysis.runtime_compat's requirements."""
    from edgekit.analysis.runtime_compat import AI_EDGE_LITERT_OLDEST

    if need["format"] == "tflite":
        text = (f"tflite-runtime / TF Lite >= {need['min_tflite_runtime'] or '?'} "
                f"({', '.join(need['min_because']) or 'no op in the table'}); "
                f"ai-edge-litert >= {need.get('min_ai_edge_litert') or '?'}")
        if need.get("min_ai_edge_litert_because") and need.get("min_ai_edge_litert") != AI_EDGE_LITERT_OLDEST:
            text += f" ({', '.join(need['min_ai_edge_litert_because'])})"
        if need.get("unknown_op_versions"):
            text += f"; not in the table: {', '.join(need['unknown_op_versions'])}"
        if need.get("converter_min_runtime_version"):
            text += f"; the converter wrote min_runtime_version {need['converter_min_runtime_version']}"
    elif need["format"] == "onnx":
        text = (f"onnxruntime >= {need['min_onnxruntime'] or 'a release newer than the table'} "
                f"(IR {need['ir_version']}, opsets " + ", ".join(f"{k} {v}" for k, v in need["opsets"].items()) + ")")
    else:
        text = f"openvino >= {need['min_openvino'] or '?'} (IR v{need['ir_version']})"
    return f"{text} [table: {need['source']}]"


def register(app: typer.Typer) -> None:
    app.command("inspect", epilog=EXAMPLES)(inspect_cmd)

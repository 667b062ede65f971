"""Readable export reports, rendered from sidecar dicts (no torch, no runtime).

`render_report(metas)` is the markdown file written next to an export (one section per target,
a comparison table first when there are several); `summary_lines(meta)` is the compact terminal
summary the CLI prints.
"""

from __future__ import annotations

from edgekit.analysis.xnnpack_why import why_lines


def _num(n) -> str:
    return "-" if n is None else f"{n:,}"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def _sci(x) -> str:
    return "-" if x is None else f"{x:.2e}"


def parity_text(p: dict | None) -> str:
    if not p:
        return "not measured"
    tol = p.get("tolerance")
    verdict = "" if tol is None else (" ok" if p.get("ok") else f" OVER tolerance {tol:.0e}")
    if p.get("outputs"):  # several outputs: each against its own scale
        parts = []
        for name, q in p["outputs"].items():
            ok = "" if q.get("tolerance") is None else (" ok" if q.get("ok") else f" OVER {q['tolerance']:.0e}")
            parts.append(f"{name} {_sci(q['rel_max_abs_diff'])}{ok} (cos {q['cosine']:.6f})")
        return f"per output, x its own scale: {'; '.join(parts)} on {p['n_inputs']} inputs"
    return (f"max abs diff {_sci(p['max_abs_diff'])} = {_sci(p['rel_max_abs_diff'])} x output scale{verdict}, "
            f"cosine {p['cosine']:.6f}, top-1 {p['top1_agreement'] * 100:.0f}% on {p['n_inputs']} inputs")


def census_text(c: dict | None) -> str:
    if not c:
        return "not available"
    parts = [f"{c.get('nodes', c.get('ops_total', '?'))} ops"]
    for key, label in (("gather", "gather"), ("transpose", "transpose"), ("reshape", "reshape"),
                       ("dynamic_weight_convs", "dynamic-weight conv")):
        if key in c:
            parts.append(f"{c[key]} {label}")
    d = c.get("delegate")
    if d:
        parts.append(f"{d.get('partitions')} {d.get('name', 'delegate')} partition(s), "
                     f"{d.get('default_kernel_ops')} op(s) on default kernels")
    return ", ".join(parts)


def madds_text(m: dict) -> str:
    text = f"graph {_num(m.get('graph_madds'))} = model {_num(m.get('conv_madds'))} + rewrite {_num(m.get('rewrite_overhead'))}"
    match = m.get("graph_matches_model")
    return text + ("" if match is None else (" ✓" if match else " ✗ MISMATCH"))


def summary_lines(meta: dict) -> list[str]:
    """Compact summary of one export for a terminal."""
    rewrites = meta.get("rewrites") or []
    changed = sum(1 for r in rewrites if r.get("changed", True))
    lines = [
        f"{meta['target']} {meta['precision']}  {', '.join(meta.get('files', [meta.get('file', '')]))}  "
        f"{_size(meta.get('size_bytes'))}",
        f"  parity   {parity_text(meta.get('parity'))}",
        f"  census   {census_text(meta.get('census'))}",
        f"  MAdds    {madds_text(meta.get('madds', {}))}",
        f"  rewrite  {meta.get('rewrite_status', '-')}" + (f": {changed}/{len(rewrites)} passes changed the model"
                                                            if rewrites else ""),
        f"  time     convert {meta.get('conversion_seconds', 0):.1f} s, total "
        f"{sum((meta.get('timings') or {}).values()):.1f} s",
    ]
    lines += [f"  default  {w}" for w in why_lines((meta.get("census") or {}).get("delegate"))]
    return lines + [f"  warning  {w}" for w in meta.get("warnings", [])]


def _section(meta: dict) -> list[str]:
    out = [f"## {meta['target']} · {meta['precision']}", ""]
    out += ["| | |", "|---|---|"]
    rows = [
        ("files", ", ".join(f"`{f}`" for f in meta.get("files", []))),
        ("size (all files)", f"{_size(meta.get('size_bytes'))} ({_num(meta.get('size_bytes'))} bytes)"),
        ("layout", meta.get("layout", "-")),
        ("inputs", "; ".join(f"{t['name']} {tuple(t['shape'])} {t['dtype']}" for t in meta.get("inputs", []))),
        ("outputs", "; ".join(f"{t['name']} {tuple(t['shape'])} {t['dtype']}" for t in meta.get("outputs", []))),
        ("parity vs PyTorch", parity_text(meta.get("parity"))),
        ("MAdds", madds_text(meta.get("madds", {}))),
        ("census", census_text(meta.get("census"))),
        ("left on default kernels", "; ".join(why_lines((meta.get("census") or {}).get("delegate"))) or "-"),
        ("rewrite", meta.get("rewrite_status", "-")),
        ("conversion", f"{meta.get('conversion_seconds', 0):.2f} s"),
    ]
    out += [f"| {k} | {v} |" for k, v in rows]
    out.append("")
    for w in meta.get("warnings", []):
        out.append(f"> **warning**: {w}")
    if meta.get("warnings"):
        out.append("")
    rewrites = meta.get("rewrites") or []
    if rewrites:
        keys = [k for k in ("name", "changed", "madds_before", "madds_after", "exact_diff", "max_abs_diff", "seconds")
                if any(k in r for r in rewrites)]
        headers = {"exact_diff": "float64 diff (proof, ≤ 1e-9)", "max_abs_diff": "float32 diff (measured)"}
        out += ["### Rewrites", "", "Differences from the original model, relative to its output scale, after each pass.",
                "", "| " + " | ".join(headers.get(k, k) for k in keys) + " |", "|" + "---|" * len(keys)]
        for r in rewrites:
            out.append("| " + " | ".join(_cell(r.get(k)) for k in keys) + " |")
        out.append("")
        from edgekit.rewrite.forms_report import form_lines

        forms = [line for r in rewrites for line in form_lines(r.get("details") or {})]
        if forms:
            out += ["```", *forms, "```", ""]
    ops = (meta.get("census") or {}).get("ops")
    if ops:
        out += ["### Ops", "", "| op | count |", "|---|---:|"]
        out += [f"| {op} | {n} |" for op, n in ops.items()]
        out.append("")
    q = meta.get("quantization")
    if q:
        out += ["### Quantization", "", "```json", _json(q), "```", ""]
    return out


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return _sci(v)
    return str(v)


def _json(obj) -> str:
    import json

    return json.dumps(obj, indent=2, default=str)[:20000]


def render_report(metas: list[dict]) -> str:
    first = metas[0]
    card = first.get("card") or {}
    lines = [f"# Export report: {first['model']}", "",
             f"edgekit {first.get('edgekit_version', '?')} · source `{first.get('source', first['model'])}` · "
             f"input {'x'.join(map(str, card.get('input_size', [])))}", ""]
    if len(metas) > 1:
        lines += ["| target | precision | size | rel. max diff | cosine | top-1 | graph MAdds | convert s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for m in metas:
            p = m.get("parity") or {}
            lines.append(f"| {m['target']} | {m['precision']} | {_size(m.get('size_bytes'))} | "
                         f"{_sci(p.get('rel_max_abs_diff'))} | {p.get('cosine', float('nan')):.6f} | "
                         f"{p.get('top1_agreement', float('nan')) * 100:.0f}% | {_num(m['madds'].get('graph_madds'))} | "
                         f"{m.get('conversion_seconds', 0):.1f} |")
        lines.append("")
    for m in metas:
        lines += _section(m)
    return "\n".join(lines).rstrip() + "\n"

"""Readable lines for a pass's per-layer form choices (PassRecord.details), no torch.

Used by `edgekit rewrite --report` and the export report. `details` as written by
`dyconv_forms.DynamicConvToStaticForms`: mode (rule | tuned | picks), forms (form → layers),
layers [{name, kind, input_shape, form, timings_ms?}].
"""

from __future__ import annotations


def form_lines(details: dict) -> list[str]:
    layers = (details or {}).get("layers") or []
    if not layers:
        return []
    counts = ", ".join(f"{f} {n}" for f, n in (details.get("forms") or {}).items())
    out = [f"DY-Conv forms ({details.get('mode', '?')}, {details.get('target', '?')}): {counts}"]
    for r in layers:
        shape = "x".join(map(str, r.get("input_shape") or [])) or "-"
        line = f"  {r['name']}  {r.get('kind', '')} @ {shape}: {r['form']}"
        t = r.get("timings_ms")
        if t:
            line += "  (" + ", ".join(f"{f} {v:.4f} ms" for f, v in t.items()) + ")"
        out.append(line)
    return out

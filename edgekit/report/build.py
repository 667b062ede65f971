"""`build_report(results, out_dir)`: index.md plus PNG plots, written atomically as a directory.

The report is built in a temporary directory next to OUT and renamed into place when complete,
so OUT is either the previous report (on any failure) or the whole new one, never half of each.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tempfile
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.report import plots
from edgekit.report.load import Results


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "model"


def _ms(x) -> str:
    return "-" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.0f}")


def _num(x, fmt="{:,.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_report_files(results: Results, out: Path) -> list[str]:
    """Write index.md and the PNGs into the (empty) directory `out`; returns the file names."""
    bench = results.bench
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    md = ["# edgekit report", "",
          f"{len(bench)} bench result(s) and {len(results.profiles)} per-op profile(s) from "
          + ", ".join(f"`{Path(s).name}`" for s in results.sources) + f", built {now}.", ""]
    files = ["index.md"]

    if bench:
        fronts = plots.latency_vs_madds(bench, out / "latency_vs_madds.png")
        on_front = {i for idx in fronts.values() for i in idx}
        names = plots.labels(bench)
        files.append("latency_vs_madds.png")
        md += ["## Latency vs MAdds", "",
               "Median latency against multiply-adds, per runtime (and device). The dashed line joins each "
               "runtime's Pareto front across models and precisions: nothing else there is both cheaper "
               "and faster. Only results measured together (same machine, same run) compare exactly.", "",
               "![latency vs MAdds](latency_vs_madds.png)", ""]
        for name, idx in sorted(fronts.items()):
            md.append(f"- **{_md_cell(name)}** Pareto front: "
                      + ", ".join(f"{_md_cell(names[i])} ({_ms(plots.median_ms(bench[i]))} ms)"
                                  for i in idx))
        missing = [n for n, r in zip(names, bench) if not r.get("madds")]
        if missing:
            md.append(f"- not plotted (no MAdds known): {_md_cell(', '.join(missing))}")
        md += ["", "| model | file | precision | runtime | where | threads | median ms | p90 | p99 | min | CV % | "
               "init ms | MAdds | µs/MMAdd | size KiB | Pareto |",
               "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|"]
        for i, r in enumerate(bench):
            lat = r.get("latency_ms") or {}
            cv = lat.get("cv")
            md.append("| " + " | ".join(_md_cell(c) for c in (
                r.get("model") or "-", r.get("name") or Path(str(r.get("file", "-"))).name, r.get("precision") or "-",
                r.get("runtime", "-"), r.get("where") or "local", r.get("threads", "-"), _ms(plots.median_ms(r)),
                _ms(lat.get("p90")), _ms(lat.get("p99")), _ms(lat.get("min")),
                "-" if cv is None else f"{100 * cv:.1f}", _ms(r.get("init_ms")), _num(r.get("madds")),
                _num(r.get("us_per_mmadd"), "{:.1f}"),
                "-" if r.get("size_bytes") is None else f"{r['size_bytes'] / 1024:,.1f}",
                "✓" if i in on_front else "")) + " |")
        notes = sorted({r["latency_note"] for r in bench if r.get("latency_note")})
        md += [""] + [f"Note: {n}." for n in notes] + ([""] if notes else [])

        plots.latency_distribution(bench, out / "latency_distribution.png")
        files.append("latency_distribution.png")
        md += ["## Latency distribution", "",
               "Per-run latencies of each result (box: quartiles, whiskers: 1.5 IQR, dots: outliers).", "",
               "![latency distribution](latency_distribution.png)", ""]
        md += _thread_scaling(bench, out, files)

    if results.profiles:
        md += ["## Per-op time", ""]
        for k, prof in enumerate(results.profiles, 1):
            name = prof.get("name") or Path(str(prof.get("file", "model"))).name
            png = f"ops-{k}-{_slug(name)}.png"
            rows = plots.op_bars(prof, out / png)
            files.append(png)
            total = prof.get("op_total_ms")
            md += [f"### {_md_cell(name)} on {_md_cell(plots.series_key(prof))}", "",
                   f"Op time per run: {_ms(total)} ms" + (f"; wall-clock median with the profiler on: "
                                                          f"{_ms(plots.median_ms(prof))} ms" if prof.get("latency_ms") else "")
                   + ".", "", f"![per-op time of {_md_cell(name)}]({png})", "",
                   "| op | nodes | ms per run | % |", "|---|---:|---:|---:|"]
            for o in rows:
                pct = o.get("pct")
                md.append(f"| {_md_cell(o['op'])} | {o.get('nodes') if o.get('nodes') is not None else '-'} | "
                          f"{_ms(o.get('ms'))} | {'-' if pct is None else f'{pct:.1f}'} |")
            md.append("")

    (out / "index.md").write_text("\n".join(md).rstrip() + "\n")
    return files


def _settings_text(settings: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (settings or {}).items()) or "-"


def _thread_scaling(bench: list[dict], out: Path, files: list[str]) -> list[str]:
    """The thread-scaling section (plot + table) when some artifact was timed at several thread
    counts, and the runtimes' thread settings of every result; Markdown lines."""
    md = []
    series = plots.scaling_series(bench)
    if any(len(pts) > 1 for pts in series.values()):
        plots.scaling_plot(bench, out / "thread_scaling.png")
        files.append("thread_scaling.png")
        md += ["## Thread scaling", "",
               "Median latency and speed-up against the fewest threads measured, per artifact, runtime and "
               "machine (dashed: linear). Thread counts above the machine's cores are marked (!): those "
               "threads share cores.", "", "![thread scaling](thread_scaling.png)", "",
               "| artifact · runtime | threads | median ms | speed-up | vs linear |", "|---|---:|---:|---:|---:|"]
        over = {(plots.median_ms(r), r.get("threads")) for r in bench if r.get("oversubscribed")}
        for name, pts in series.items():
            for x, ms, up in pts:
                mark = " (!)" if (ms, x) in over else ""
                md.append(f"| {_md_cell(name)} | {x}{mark} | {_ms(ms)} | {up:.2f} | {up / (x / pts[0][0]):.2f} |")
        md.append("")
    settings = {}
    for r in bench:
        if r.get("thread_settings"):
            settings.setdefault((r.get("runtime", "?"), r.get("threads")), r["thread_settings"])
    if settings:
        md += ["Runtime thread settings (as applied by the runner): "] + [
            f"- {_md_cell(rt)}, {n} thread(s): {_md_cell(_settings_text(cfg))}"
            for (rt, n), cfg in sorted(settings.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))] + [""]
    return md


def build_report(results, out_dir, force: bool = False, writer=None) -> list[str]:
    """Build the report into `out_dir` atomically; refuses to replace it without `force`.
    `writer(results, dir)` writes the files (default `write_report_files`; the sweep report has its own)."""
    out = Path(out_dir)
    if out.exists() and not force:
        raise EdgekitError(f"{out} exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"{out} exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.edgekit-", dir=out.parent))
    old = None
    try:
        files = (writer or write_report_files)(results, tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            os.replace(old / out.name, out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return files

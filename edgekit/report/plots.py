"""The report's PNG plots (matplotlib, Agg backend: no display needed).

Sizes are fixed so a report looks the same everywhere (DPI 100, width 800 px):
  latency_vs_madds   800 × 500
  latency distribution 800 × (150 + 50·results) px
  per-op bars        800 × (150 + 35·op types) px
  scaling_plot       800 × 400 (latency and speed-up against the thread count, or a sweep's x)
"""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.report.pareto import pareto_front

DPI = 100
WIDTH_IN = 8.0
MARKERS = {"fp32": "o", "fp16": "s", "int8": "^"}
TOP_OPS = 12


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise EdgekitError("edgekit report needs matplotlib: pip install 'edgekit[report]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def median_ms(r: dict) -> float | None:
    lat = r.get("latency_ms") or {}
    return lat.get("median") if lat.get("median") is not None else lat.get("mean")


def label(r: dict) -> str:
    name = r.get("model") or r.get("name") or Path(str(r.get("file", "?"))).name
    prec = r.get("precision")
    return f"{name} {prec}" if prec and prec not in name else name


def labels(records: list[dict]) -> list[str]:
    """`label` of each record, with the file name added where two records of the same runtime and
    machine would read the same (across runtimes, colour and series names tell them apart)."""
    keys = [(label(r), series_key(r)) for r in records]
    out = []
    for r, key in zip(records, keys):
        fname = r.get("name") or Path(str(r.get("file", "?"))).name
        out.append(f"{key[0]} ({fname})" if keys.count(key) > 1 and fname != key[0] else key[0])
    return out


def series_key(r: dict) -> str:
    """A runtime on a machine: 'onnxruntime', 'litert @ ssh://pi@raspberrypi'."""
    where = r.get("where") or "local"
    return r.get("runtime", "?") if where == "local" else f"{r.get('runtime', '?')} @ {where}"


def latency_vs_madds(records: list[dict], path: Path) -> dict[str, list[int]]:
    """Scatter of median latency against MAdds, one colour per runtime (and device), one marker per
    precision, with each runtime's Pareto front drawn as a step line. Returns {series: indices of
    `records` on its front}. Records without MAdds or latency are left out of the plot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 5.0), dpi=DPI)
    series: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.get("madds") and median_ms(r):
            series.setdefault(series_key(r), []).append(i)
    fronts: dict[str, list[int]] = {}
    names = labels(records)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, idx) in enumerate(sorted(series.items())):
        color = colors[k % len(colors)]
        pts = [(records[i]["madds"] / 1e6, median_ms(records[i])) for i in idx]
        front = [idx[j] for j in pareto_front(pts)]
        fronts[name] = front
        for n, (i, (x, y)) in enumerate(zip(idx, pts)):
            prec = records[i].get("precision") or ""
            ax.scatter([x], [y], color=color, marker=MARKERS.get(prec, "D"), s=46, zorder=3,
                       edgecolors="black" if i in front else "none", linewidths=0.8)
            # labels of nearby points alternate above and below so they do not print over each other
            ax.annotate(names[i], (x, y), textcoords="offset points", xytext=(6, (4, -11, 13)[n % 3]),
                        fontsize=7)
        fx = [records[i]["madds"] / 1e6 for i in front]
        fy = [median_ms(records[i]) for i in front]
        ax.step(fx, fy, where="post", color=color, linestyle="--", linewidth=1.2, label=f"{name} (Pareto front)")
    shown = [records[i] for idx in series.values() for i in idx]
    precisions = {r.get("precision") or "" for r in shown}
    for prec, marker in MARKERS.items():
        if prec in precisions:
            ax.scatter([], [], marker=marker, color="gray", label=prec)
    if precisions - set(MARKERS):
        ax.scatter([], [], marker="D", color="gray", label="precision unknown")
    if series:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 4, 0.6, 20 — not 4×10⁰ or 6e-01
        xs = [r["madds"] / 1e6 for r in shown]
        ys = [median_ms(r) for r in shown]
        ax.set_xscale("log")
        scaled = [(ax.xaxis, xs)]
        if max(ys) / min(ys) > 20:
            ax.set_yscale("log")
            scaled.append((ax.yaxis, ys))
        for axis, vals in scaled:
            axis.set_major_formatter(plain)
            # label the 2..9 ticks too when the data spans little more than a decade
            axis.set_minor_formatter(plain if max(vals) / min(vals) < 30 else NullFormatter())
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, "no results with both MAdds and latency", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("MAdds (millions, log scale)")
    ax.set_ylabel("median latency (ms)" + (", log scale" if ax.get_yscale() == "log" else ""))
    ax.set_title("Latency vs MAdds (outlined: on the Pareto front of its runtime)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return fronts


def latency_distribution(records: list[dict], path: Path) -> None:
    """Box plot of each result's per-run latencies (or min/median/max when there are no samples)."""
    plt = _pyplot()
    n = len(records)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.5 + 0.5 * n), dpi=DPI)
    data, names = [], []
    for r, name in zip(records, labels(records)):
        samples = r.get("samples_ms") or []
        lat = r.get("latency_ms") or {}
        if not samples:  # benchmark_model reports no samples: draw what it reports
            samples = [v for v in (lat.get("min"), median_ms(r), lat.get("max")) if v is not None]
        data.append(samples or [0.0])
        names.append(f"{name} · {series_key(r)}")
    try:  # matplotlib >= 3.10 says orientation=, older ones only know vert=
        ax.boxplot(data, orientation="horizontal", showfliers=True, flierprops={"markersize": 2})
    except TypeError:
        ax.boxplot(data, vert=False, showfliers=True, flierprops={"markersize": 2})
    values = [v for d in data for v in d if v > 0]
    if values and max(values) / min(values) > 20:  # results orders of magnitude apart
        ax.set_xscale("log")
    ax.set_yticks(range(1, n + 1), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("latency per run (ms" + (", log scale)" if ax.get_xscale() == "log" else ")"))
    ax.set_title("Latency distribution")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def op_bars(profile: dict, path: Path, top: int = TOP_OPS) -> list[dict]:
    """Horizontal bars of time per op type (top `top`, the rest summed as 'other'); returns the rows."""
    plt = _pyplot()
    ops = sorted(profile.get("ops") or [], key=lambda o: -(o.get("ms") or 0.0))
    rows = ops[:top]
    if len(ops) > top:
        rest = ops[top:]
        rows = rows + [{"op": f"other ({len(rest)} types)", "ms": sum(o.get("ms") or 0.0 for o in rest),
                        "pct": sum(o.get("pct") or 0.0 for o in rest), "nodes": sum(o.get("nodes") or 0 for o in rest)}]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.5 + 0.35 * max(1, len(rows))), dpi=DPI)
    ys = range(len(rows))
    ms = [o.get("ms") or 0.0 for o in rows]
    ax.barh(list(ys), ms, color="#4c72b0")
    ax.set_yticks(list(ys), [o["op"] for o in rows], fontsize=8)
    ax.invert_yaxis()
    for y, o in zip(ys, rows):
        pct = o.get("pct")
        ax.annotate(f"{o.get('ms') or 0.0:.3f} ms" + (f" ({pct:.1f}%)" if pct is not None else ""),
                    (o.get("ms") or 0.0, y), textcoords="offset points", xytext=(3, -3), fontsize=7)
    ax.set_xlabel("time per run (ms)")
    ax.set_xlim(0, max(ms + [1e-6]) * 1.3)
    ax.set_title(f"Per-op time: {profile.get('name') or Path(str(profile.get('file'))).name} on {series_key(profile)}")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return rows


def _scaling_value(r: dict) -> float | None:
    return median_ms(r) if r.get("latency_ms") else r.get("median_ms")


def scaling_series(records: list[dict], x: str = "threads") -> dict[str, list[tuple[float, float, float]]]:
    """Records grouped into series — `r["series"]` if given, else the artifact on its runtime and
    machine — each a sorted list of (x, median ms, speed-up against the series' smallest x).
    A record needs `x` and a median (bench `latency_ms`, or a plain `median_ms`)."""
    groups: dict[str, dict[float, float]] = {}
    names = labels(records)
    for r, name in zip(records, names):
        xv, ms = r.get(x), _scaling_value(r)
        if xv is None or not ms:
            continue
        key = r.get("series") or f"{name} · {series_key(r)}"
        groups.setdefault(key, {})[xv] = ms
    out = {}
    for key, points in sorted(groups.items()):
        xs = sorted(points)
        base = points[xs[0]]
        out[key] = [(xv, points[xv], base / points[xv]) for xv in xs]
    return out


def scaling_plot(records: list[dict], path: Path, x: str = "threads", xlabel: str = "threads",
                 title: str = "Thread scaling") -> dict[str, list[tuple[float, float, float]]]:
    """Two panels against `x` (default: the thread count): median latency, and the speed-up against
    the smallest x of each series with the ideal (linear) speed-up dashed. Takes plain records
    (bench results, or {"series", x, "median_ms"} dicts), so a sweep can draw its own; returns
    `scaling_series(records, x)`. Series with one point are drawn as a single marker."""
    plt = _pyplot()
    series = scaling_series(records, x)
    fig, (lat_ax, up_ax) = plt.subplots(1, 2, figsize=(WIDTH_IN, 4.0), dpi=DPI)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, pts) in enumerate(series.items()):
        color = colors[k % len(colors)]
        xs = [p[0] for p in pts]
        lat_ax.plot(xs, [p[1] for p in pts], marker="o", color=color, label=name)
        up_ax.plot(xs, [p[2] for p in pts], marker="o", color=color)
    all_x = sorted({p[0] for pts in series.values() for p in pts})
    if all_x:
        lo = all_x[0]
        up_ax.plot(all_x, [xv / lo for xv in all_x], linestyle="--", color="gray", label="ideal (linear)")
        for ax in (lat_ax, up_ax):
            ax.set_xticks(all_x)
        lat_ax.legend(fontsize=6, loc="best")
        up_ax.legend(fontsize=7, loc="upper left")
    else:
        lat_ax.text(0.5, 0.5, f"no results with {x} and a latency", ha="center", va="center",
                    transform=lat_ax.transAxes)
    lat_ax.set_xlabel(xlabel)
    lat_ax.set_ylabel("median latency (ms)")
    up_ax.set_xlabel(xlabel)
    up_ax.set_ylabel(f"speed-up vs {xlabel} = {all_x[0] if all_x else '?'}")
    for ax in (lat_ax, up_ax):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return series

"""`edgekit report results/`: the sweep's plots and tables, per device.

  accuracy-vs-latency-<device>.png   top-1 against median latency, the Pareto front (nothing else
                                     is both faster and more accurate) as a step line
  madds-vs-latency-rank.png          each cell's rank by MAdds against its rank by latency, per
                                     device; off the diagonal, MAdds would have chosen wrongly
  thread-scaling.png                 latency and speed-up against threads (report.plots.scaling_plot)

The ranking comparison lists every pair of cells (same device, target, precision and threads)
where the one with fewer MAdds is the slower one.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from edgekit.report import plots
from edgekit.report.pareto import pareto_front
from edgekit.sweep.select import median_ms, top1
from edgekit.sweep.store import read_records


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "device"


def size_text(cell: dict) -> str:
    """'224px', or 'declared inputs' for a model with several named inputs (no input-size axis)."""
    return "declared inputs" if cell.get("input_size") is None else f"{cell['input_size']}px"


def base_label(r: dict) -> str:
    c = r["cell"]
    return f"{c['model']} {size_text(c)} {c['target']} {c['precision']}"


def label(r: dict) -> str:
    threads = r["cell"].get("threads", 1)
    return base_label(r) + (f" {threads}t" if threads != 1 else "")


def accuracy_front(records: list[dict]) -> list[int]:
    """Indices of the cells no other cell beats on both latency (lower) and top-1 (higher)."""
    return pareto_front([(median_ms(r), -top1(r)) for r in records])


def rank_disagreements(records: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs (a, b) measured alike (device, target, precision, threads) where a has fewer MAdds
    than b but is slower."""
    out = []
    def group(r):
        c = r["cell"]
        return (c["device"], c["target"], c["precision"], c["threads"])

    timed = sorted((r for r in records if _madds(r) and median_ms(r)), key=group)
    for _, rs in itertools.groupby(timed, key=group):
        rs = list(rs)
        for a, b in itertools.permutations(rs, 2):
            if _madds(a) < _madds(b) and median_ms(a) > median_ms(b):
                out.append((a, b))
    return out


def _madds(r: dict):
    return (r.get("export") or {}).get("madds")


def _ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order, 1):
        ranks[i] = rank
    return ranks


def accuracy_vs_latency(records: list[dict], device: str, path: Path) -> list[int]:
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(plots.WIDTH_IN, 5.0), dpi=plots.DPI)
    front = accuracy_front(records)
    for i, r in enumerate(records):
        ax.scatter([median_ms(r)], [top1(r)], marker=plots.MARKERS.get(r["cell"]["precision"], "D"), s=46, zorder=3,
                   color="#4c72b0" if i in front else "#999999", edgecolors="black" if i in front else "none")
        ax.annotate(label(r), (median_ms(r), top1(r)), textcoords="offset points", xytext=(5, 3), fontsize=7)
    ax.step([median_ms(records[i]) for i in front], [top1(records[i]) for i in front], where="post",
            linestyle="--", color="#4c72b0", label="Pareto front")
    ax.set_xlabel("median latency (ms)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"Accuracy vs latency on {device} (outlined: Pareto front)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=plots.DPI)
    plt.close(fig)
    return front


def rank_plot(records: list[dict], path: Path) -> None:
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(plots.WIDTH_IN, 5.0), dpi=plots.DPI)
    n_max = 1
    for device in sorted({r["cell"]["device"] for r in records}):
        rs = [r for r in records if r["cell"]["device"] == device and _madds(r) and median_ms(r)]
        if not rs:
            continue
        mr, lr = _ranks([_madds(r) for r in rs]), _ranks([median_ms(r) for r in rs])
        n_max = max(n_max, len(rs))
        ax.scatter(mr, lr, label=device, s=40, zorder=3)
        for r, x, y in zip(rs, mr, lr):
            if x != y:
                ax.annotate(label(r), (x, y), textcoords="offset points", xytext=(5, 3), fontsize=6)
    ax.plot([1, n_max], [1, n_max], linestyle="--", color="gray", label="same rank")
    ax.set_xlabel("rank by MAdds (1 = fewest)")
    ax.set_ylabel("rank by median latency (1 = fastest)")
    ax.set_title("MAdds ranking vs latency ranking (off the diagonal: they disagree)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=plots.DPI)
    plt.close(fig)


def write_sweep_report(records: list[dict], out: Path) -> list[str]:
    ok = [r for r in records if r.get("status") == "ok" and median_ms(r) is not None]
    failed = [r for r in records if r.get("status") != "ok"]
    md = ["# edgekit sweep report", "", f"{len(records)} cells: {len(ok)} measured, {len(failed)} failed.", ""]
    files = ["index.md"]
    for device in sorted({r["cell"]["device"] for r in ok}):
        mine = [r for r in ok if r["cell"]["device"] == device]
        scored = [r for r in mine if top1(r) is not None]
        md += [f"## {device}", ""]
        if scored:
            png = f"accuracy-vs-latency-{_slug(device)}.png"
            front = {id(scored[i]) for i in accuracy_vs_latency(scored, device, out / png)}
            files.append(png)
            sources = sorted({(r.get("accuracy") or {}).get("source", "?") for r in scored})
            md += [f"![accuracy vs latency on {device}]({png})", "", "Top-1: " + "; ".join(sources) + ".", ""]
        else:
            front = set()
            md += ["No top-1 known for this device's cells (give [eval] data, or sweep the card's published "
                   "resolution).", ""]
        md += ["| cell | median ms | top-1 % | MAdds | size KiB | Pareto |", "|---|---:|---:|---:|---:|:-:|"]
        for r in sorted(mine, key=median_ms):
            acc = top1(r)
            md.append(f"| {label(r)} | {median_ms(r):.3f} | {'-' if acc is None else f'{acc:.2f}'} | "
                      f"{_madds(r) or 0:,} | {((r.get('bench') or {}).get('size_bytes') or 0) / 1024:,.1f} | "
                      f"{'✓' if id(r) in front else ''} |")
        md.append("")
    if ok:
        rank_plot(ok, out / "madds-vs-latency-rank.png")
        files.append("madds-vs-latency-rank.png")
        pairs = rank_disagreements(ok)
        md += ["## MAdds vs latency", "", "![MAdds rank vs latency rank](madds-vs-latency-rank.png)", "",
               f"{len(pairs)} pair(s) measured alike where fewer MAdds ran slower:", ""]
        md += [f"- {a['cell']['device']}: {label(a)} ({_madds(a):,} MAdds, {median_ms(a):.3f} ms) is slower than "
               f"{label(b)} ({_madds(b):,} MAdds, {median_ms(b):.3f} ms)" for a, b in pairs]
        md.append("")
        if len({r["cell"]["threads"] for r in ok}) > 1:
            points = [{"series": f"{base_label(r)} on {r['cell']['device']}", "threads": r["cell"]["threads"],
                       "median_ms": median_ms(r)} for r in ok]
            plots.scaling_plot(points, out / "thread-scaling.png", title="Thread scaling per cell")
            files.append("thread-scaling.png")
            md += ["## Thread scaling", "", "![thread scaling](thread-scaling.png)", ""]
    if failed:
        md += ["## Failed cells", ""] + [f"- {r['key']} ({r.get('stage')}): {r.get('error')}" for r in failed] + [""]
    (out / "index.md").write_text("\n".join(md).rstrip() + "\n")
    return files


def build_sweep_report(results_dir, out_dir, force: bool = False) -> list[str]:
    """The sweep report of `results_dir` into `out_dir`, built aside and renamed into place."""
    from edgekit.report.build import build_report

    return build_report(read_records(results_dir), out_dir, force=force, writer=write_sweep_report)

"""The best configuration under a budget: the cells of one device that fit every limit, ranked by
top-1 (highest first; cells with no known top-1 after those with one), then median latency, then
size. Every other cell of the device gets the reasons it was out."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.errors import EdgekitError, did_you_mean


def median_ms(record: dict) -> float | None:
    lat = (record.get("bench") or {}).get("latency_ms") or {}
    return lat.get("median") if lat.get("median") is not None else lat.get("mean")


def top1(record: dict) -> float | None:
    return (record.get("accuracy") or {}).get("top1")


def size_bytes(record: dict) -> int | None:
    bench = record.get("bench") or {}
    return bench.get("size_bytes") or (record.get("export") or {}).get("size_bytes")


@dataclass
class Selection:
    device: str
    limits: dict
    best: dict | None
    runners_up: list[dict] = field(default_factory=list)
    out: list[tuple[dict, list[str]]] = field(default_factory=list)  # (record, reasons)
    ranked_by: str = "top-1, then latency"

    def to_dict(self) -> dict:
        def row(r, reasons=None):
            d = {"key": r["key"], **r["cell"], "median_ms": median_ms(r), "top1": top1(r),
                 "top1_source": (r.get("accuracy") or {}).get("source"), "size_bytes": size_bytes(r),
                 "madds": (r.get("export") or {}).get("madds"), "file": _file(r)}
            return d | ({"reasons": reasons} if reasons is not None else {})

        return {"kind": "sweep_select", "device": self.device, "limits": self.limits, "ranked_by": self.ranked_by,
                "best": row(self.best) if self.best else None, "runners_up": [row(r) for r in self.runners_up],
                "out": [row(r, why) for r, why in self.out]}


def _file(r: dict) -> str | None:
    e = r.get("export") or {}
    return f"{e['dir']}/{e['file']}" if e.get("dir") and e.get("file") else None


def reasons_out(r: dict, max_latency_ms=None, max_size_kb=None, min_top1=None) -> list[str]:
    """Why a cell does not fit the budget ([] when it fits)."""
    if r.get("status") != "ok":
        return [f"failed at {r.get('stage', '?')}: {r.get('error', '?')}"]
    why = []
    ms = median_ms(r)
    if max_latency_ms is not None:
        if ms is None:
            why.append("no latency measured")
        elif ms > max_latency_ms:
            why.append(f"latency {ms:.3f} ms > {max_latency_ms:g} ms")
    size = size_bytes(r)
    if max_size_kb is not None:
        if size is None:
            why.append("size unknown")
        elif size / 1024 > max_size_kb:
            why.append(f"size {size / 1024:,.1f} KiB > {max_size_kb:g} KiB")
    if min_top1 is not None:
        acc = top1(r)
        if acc is None:
            why.append("no top-1 known (give [eval] data)")
        elif acc < min_top1:
            why.append(f"top-1 {acc:.2f}% < {min_top1:g}%")
    return why


def rank_key(r: dict):
    acc = top1(r)
    ms = median_ms(r)
    return (acc is None, -(acc or 0.0), ms if ms is not None else float("inf"), size_bytes(r) or 0, r["key"])


def select(records: list[dict], device: str, max_latency_ms: float | None = None, max_size_kb: float | None = None,
           min_top1: float | None = None, runners_up: int = 3) -> Selection:
    devices = sorted({r["cell"]["device"] for r in records})
    if device not in devices:
        raise EdgekitError(f"no results for device {device!r}{did_you_mean(device, devices)}; the results have "
                           f"{', '.join(devices) or 'no devices'}")
    for name, value in (("--max-latency-ms", max_latency_ms), ("--max-size-kb", max_size_kb)):
        if value is not None and value <= 0:
            raise EdgekitError(f"{name} must be positive (got {value:g})")
    if min_top1 is not None and not 0 <= min_top1 <= 100:
        raise EdgekitError(f"--min-top1 is a percentage in 0-100 (got {min_top1:g})")
    limits = {k: v for k, v in (("max_latency_ms", max_latency_ms), ("max_size_kb", max_size_kb),
                                ("min_top1", min_top1)) if v is not None}
    mine = [r for r in records if r["cell"]["device"] == device]
    fits, out = [], []
    for r in mine:
        why = reasons_out(r, max_latency_ms, max_size_kb, min_top1)
        (out.append((r, why)) if why else fits.append(r))
    fits.sort(key=rank_key)
    sel = Selection(device, limits, fits[0] if fits else None, fits[1:1 + runners_up])
    if fits and all(top1(r) is None for r in fits):
        sel.ranked_by = "latency (no top-1 known: give [eval] data, or sweep the card's published resolution)"
    sel.out = [(r, ["fits, ranked lower"]) for r in fits[1 + runners_up:]] + out
    return sel

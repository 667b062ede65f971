"""Parse what TFLite's `benchmark_model` prints into edgekit's bench schema.

The tool reports in microseconds; edgekit reports in milliseconds. What it prints, by version:

  count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798
      [p5=... median=... p95=...]   (newer builds append percentiles to the stat line)
  Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51e+06, Inference (avg): 2.95e+06
  Peak memory footprint (MB): init=4.92969 overall=138.809                 (TF 2.4)
  Memory footprint delta from the start of the tool (MB): init=4.21 overall=46.08   (later)
  Overall peak memory footprint (MB) via periodic monitoring: 93.2383      (--report_peak_memory_footprint)
  Explicitly applied XNNPACK delegate, and the model graph will be partially executed by the delegate w/ 1 delegate kernels.
  Replacing 58 out of 58 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions ...
  ===== Summary by node type =====   (with --enable_op_profiling=true)

Lines may carry a logger prefix ("INFO: ", logcat's "I tflite  : "); the parser strips it. The run
statistics are the last `count=` line before "Inference timings"; the one before it, if any, is
the warm-up. Percentiles the tool did not print are None (there are no per-run samples to compute
them from); consumers fall back to the mean.
"""

from __future__ import annotations

import re

from edgekit.errors import EdgekitError

_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PREFIX = re.compile(r"^(?:\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+)?(?:[VDIWEF] [\w.-]+\s*:\s?|(?:INFO|VERBOSE|WARNING): )")
_STAT = re.compile(r"^count=(\d+)(.*)$")
_KV = re.compile(rf"(\w+)=({_NUM})")
_TIMINGS = re.compile(rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), "
                      rf"Warmup \(avg\): ({_NUM}), Inference \(avg\): ({_NUM})")
_PEAK_OLD = re.compile(rf"^Peak memory footprint \(MB\): init=({_NUM}) overall=({_NUM})")
_DELTA = re.compile(rf"^Memory footprint delta from the start of the tool \(MB\): init=({_NUM}) overall=({_NUM})")
_PERIODIC = re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUM})")
_SESSION = re.compile(rf"Initialized session in ({_NUM}) ?ms")
_THREADS = re.compile(r"^Num threads: \[(\d+)\]")
_GRAPH = re.compile(r"^Graph: \[(.*)\]")
_REPLACING = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, yielding (\d+) partitions")
_EXPLICIT = re.compile(r"Explicitly applied (\w+) delegate, and the model graph will be (completely|partially) executed "
                       r"by the delegate(?: w/ (\d+) delegate kernels)?")
_SUMMARY_HEADER = "Summary by node type"
_REGULAR_PROFILE = "Operator-wise Profiling Info for Regular Benchmark Runs"


def _strip(line: str) -> str:
    line = line.rstrip("\r\n")
    return _PREFIX.sub("", line, count=1)


def _us_to_ms(v) -> float | None:
    return None if v is None else float(v) / 1000.0


def _stat(rest: str, count: int) -> dict:
    kv = {k: float(v) for k, v in _KV.findall(rest)}
    kv["count"] = count
    return kv


def _summary_by_node_type(lines: list[str]) -> list[dict]:
    """Rows of the 'Summary by node type' table of the regular runs (empty without op profiling)."""
    try:
        start = next(i for i, l in enumerate(lines) if _REGULAR_PROFILE in l)
    except StopIteration:
        return []
    rows: list[dict] = []
    in_table = False
    for line in lines[start:]:
        if _SUMMARY_HEADER in line:
            in_table = True
            continue
        if not in_table:
            continue
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if not cells:
            if rows:
                break
            continue
        if cells[0].startswith("["):  # the column header row
            continue
        if len(cells) < 7:
            break
        rows.append({"op": cells[0], "count": int(cells[1]), "ms": float(cells[2]),
                     "percent": float(cells[3].rstrip("%")), "times_called": int(cells[6])})
    return rows


def parse_benchmark_model(text: str) -> dict:
    """The bench schema (latencies in ms) from `benchmark_model` stdout+stderr.

    Raises EdgekitError with the tool's own error line when the output holds no timings.
    """
    lines = [_strip(l) for l in text.splitlines()]
    timings_at = next((i for i, l in enumerate(lines) if _TIMINGS.search(l)), None)
    if timings_at is None:
        errors = [l.strip() for l in lines if l.strip().startswith("ERROR") or "failed" in l.lower()]
        detail = errors[0] if errors else (next((l.strip() for l in reversed(lines) if l.strip()), "") or "no output")
        raise EdgekitError(f"benchmark_model printed no timings: {detail[:200]}")
    init_us, first_us, warm_us, infer_us = (float(x) for x in _TIMINGS.search(lines[timings_at]).groups())

    stats = [(int(m.group(1)), m.group(2)) for l in lines[:timings_at] if (m := _STAT.match(l.strip()))]
    regular = _stat(stats[-1][1], stats[-1][0]) if stats else {"count": None, "avg": infer_us}
    warm = _stat(stats[-2][1], stats[-2][0]) if len(stats) >= 2 else None

    mean_us = regular.get("avg", infer_us)
    std_us = regular.get("std")
    latency = {
        "median": _us_to_ms(regular.get("median")),
        "mean": _us_to_ms(mean_us),
        "p5": _us_to_ms(regular.get("p5")),
        "p90": None,
        "p95": _us_to_ms(regular.get("p95")),
        "p99": None,
        "min": _us_to_ms(regular.get("min")),
        "max": _us_to_ms(regular.get("max")),
        "std": _us_to_ms(std_us),
        "cv": (std_us / mean_us) if std_us is not None and mean_us else None,
    }

    memory: dict = {}
    threads = graph = session_ms = None
    delegate: dict = {}
    for l in lines:
        s = l.strip()
        if m := _PEAK_OLD.match(s):
            memory.update(kind="peak", init_mb=float(m.group(1)), overall_mb=float(m.group(2)))
        elif m := _DELTA.match(s):
            memory.update(kind="delta_from_start", init_mb=float(m.group(1)), overall_mb=float(m.group(2)))
        elif m := _PERIODIC.match(s):
            memory["peak_mb"] = float(m.group(1))
        elif m := _THREADS.match(s):
            threads = int(m.group(1))
        elif m := _GRAPH.match(s):
            graph = m.group(1)
        elif m := _SESSION.search(s):
            session_ms = float(m.group(1))
        if m := _REPLACING.search(s):
            delegate.update(name=m.group(3), nodes_delegated=int(m.group(1)), nodes_total=int(m.group(2)),
                            partitions=int(m.group(4)))
        elif m := _EXPLICIT.search(s):
            delegate.setdefault("name", m.group(1))
            delegate["fully_delegated"] = m.group(2) == "completely"
            if m.group(3) is not None:
                delegate.setdefault("partitions", int(m.group(3)))
    peak = memory.get("peak_mb", memory.get("overall_mb"))

    return {
        "runtime": "litert",
        "runtime_version": None,
        "tool": "benchmark_model",
        "model": graph,
        "threads": threads,
        "warmup": warm["count"] if warm else None,
        "runs": regular["count"],
        "init_ms": init_us / 1000.0,
        "session_init_ms": session_ms,
        "first_inference_ms": first_us / 1000.0,
        "warmup_mean_ms": warm_us / 1000.0,
        "latency_ms": latency,
        "samples_ms": [],
        "peak_rss_mb": peak,
        "memory": memory,
        "delegate": delegate,
        "ops": _summary_by_node_type(lines),
    }

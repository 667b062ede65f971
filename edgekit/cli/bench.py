"""`edgekit bench FILE...`: latency, memory and cost per MAdd of exported models, side by side."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from edgekit.cli.common import (MAX_RUNS, MAX_SECONDS, JsonOpt, console, err_console, human, print_json,
                                show_progress)

EXAMPLES = """Examples:

  edgekit bench m0.onnx

  edgekit bench m0.tflite m0_stock.tflite --threads 1 --runs 200

  edgekit bench m0.tflite --threads 1,2,4          # one result per thread count + speed-up vs 1

  edgekit bench m0.xml --seconds 10 --json -o results.json

  edgekit bench m0.tflite --ssh pi@raspberrypi --ssh-key ~/.ssh/id_ed25519

  edgekit bench m0.tflite --adb

  edgekit bench m0.pte --adb R58M1234ABC --threads 1,4 --executor-runner /data/local/tmp/executor_runner
                                                   # .pte over adb: ExecuTorch's executor_runner (arm64-v8a,
                                                   # XNNPACK, logging on), pushed there by you
"""

RUNTIME_CHOICES = ("auto", "onnxruntime", "litert", "openvino")


def bench_cmd(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Model files (.onnx, .tflite, .xml, .pte)."),
    runtime: str = typer.Option("auto", "--runtime", "-r", help="auto (by extension) | onnxruntime | litert | openvino."),
    threads: str = typer.Option("1", "--threads", "-t", metavar="N[,N...]",
                                help="Intra-op threads, or a comma list (1,2,4): one result per count, timed "
                                     "interleaved, with the speed-up against 1 thread. More than the machine's "
                                     "cores is allowed but flagged."),
    warmup: int = typer.Option(10, "--warmup", min=0, max=MAX_RUNS, help="Untimed runs before timing."),
    runs: int = typer.Option(None, "--runs", "-n", min=1, max=MAX_RUNS, help="Timed runs per file [default: 100]."),
    seconds: float = typer.Option(None, "--seconds", "-s", min=0.001, max=MAX_SECONDS, help="Time each file for this long instead of --runs."),
    ssh: str = typer.Option(None, "--ssh", metavar="USER@HOST[:PORT]", help="Benchmark on a device over SSH (key auth)."),
    ssh_key: str = typer.Option(None, "--ssh-key", help="Private key for --ssh."),
    parity: bool = typer.Option(False, "--parity", help="With --ssh: also run the reference inputs stored at export "
                                "on the device and compare with PyTorch (max |diff| x output scale, cosine, top-1)."),
    adb: bool = typer.Option(False, "--adb", help="Benchmark on an Android device with each format's own runner: "
                             ".tflite with TFLite's benchmark_model, .pte with ExecuTorch's executor_runner; "
                             "`--adb SERIAL` (or --serial) picks the device when several are attached."),
    serial: str = typer.Option(None, "--serial", help="adb device serial for --adb."),
    benchmark_model: str = typer.Option(None, "--benchmark-model", help="Path of benchmark_model on the --adb device "
                                        "(default: /data/local/tmp/benchmark_model)."),
    executor_runner: str = typer.Option(None, "--executor-runner", metavar="PATH",
                                        help="Path of ExecuTorch's executor_runner (or xnn_executor_runner) on the "
                                             "--adb device, for .pte files (default: /data/local/tmp/executor_runner). "
                                             "--threads sets its --cpu_threads; it has no time mode (no --seconds)."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON results to this file."),
    force: bool = typer.Option(False, "--force", help="Overwrite --output if it exists."),
    json_out: bool = JsonOpt,
):
    """Median, p90, p99, min, CV, init time, memory, MAdds and µs per million MAdds for each FILE.

    Several files are timed side by side in one run (interleaved blocks), so their ratios hold
    even on a noisy machine. Needs only numpy and the runtime (no torch).
    """
    from edgekit.errors import EdgekitError

    if runs is not None and seconds is not None:
        raise EdgekitError("pass --runs or --seconds, not both")
    if runtime not in RUNTIME_CHOICES:
        from edgekit.errors import did_you_mean

        raise EdgekitError(f"unknown runtime {runtime!r}{did_you_mean(runtime, RUNTIME_CHOICES)}; "
                           f"choose from {', '.join(RUNTIME_CHOICES)}")
    if adb:
        files, serial = _split_serial(files, serial)
    if ssh and adb:
        raise EdgekitError("pass --ssh or --adb, not both")
    if ssh_key and not ssh:
        raise EdgekitError("--ssh-key needs --ssh")
    if parity and not ssh:
        raise EdgekitError("--parity needs --ssh (a local export's parity is in its sidecar: edgekit inspect FILE)")
    if adb and runtime != "auto" and not (runtime == "litert" and all(f.suffix.lower() == ".tflite" for f in files)):
        raise EdgekitError(f"--adb picks the device's runner by file type (.tflite: benchmark_model, .pte: "
                           f"executor_runner); --runtime {runtime} is not available there")
    for flag, value in (("--benchmark-model", benchmark_model), ("--executor-runner", executor_runner),
                        ("--serial", serial)):
        if value and not adb:
            raise EdgekitError(f"{flag} needs --adb")
    if output is not None:
        from edgekit.fileio import check_writable

        check_writable([output], force)
    n_runs = 100 if runs is None else runs
    from edgekit.runtimes.bench import parse_threads

    threads = parse_threads(threads)
    for f in files:
        if not f.is_file():
            raise EdgekitError(f"model file not found: {f}")

    if ssh:
        results = _remote("ssh", "bench_over_ssh", ssh, files, runtime, threads, warmup, n_runs, seconds, ssh_key,
                          parity=parity)
    elif adb:  # benchmark_model and executor_runner take one thread count per run
        results = [r for n in threads for r in _remote("adb", "bench_over_adb", serial, files, n, warmup, n_runs,
                                                      seconds, benchmark_model, executor_runner=executor_runner)]
    else:
        results = _local(files, runtime, threads, warmup, n_runs, seconds)
    _flag_threads(results)

    if output is not None:
        import json

        from edgekit.fileio import write_text_atomic

        write_text_atomic(output, json.dumps(results, indent=2) + "\n", force=force)
    if json_out:
        print_json(results)
    else:
        out = console if console.is_terminal else Console(width=200)  # no truncated cells in logs
        out.print(results_table(results))
        if ssh:
            from edgekit.runtimes.remote.ssh import device_notes

            for line in device_notes(results):
                out.print(line, markup=False, highlight=False)
        if adb:  # what the device's runner did not print or did not apply
            for r in results:
                for note in (r.get("latency_note"), r.get("threads_note")):
                    if note:
                        out.print(f"{r.get('name')}: {note}", markup=False, highlight=False)
        else:  # one line per distinct note (ExecuTorch's thread counts timed one after another)
            for note in sorted({r["threads_note"] for r in results if r.get("threads_note")}):
                out.print(f"note: {note}", markup=False, highlight=False)
        if output is not None:
            out.print(f"wrote {output}")


MODEL_SUFFIXES = (".onnx", ".tflite", ".xml", ".pte")


def _split_serial(files: list[Path], serial: str | None) -> tuple[list[Path], str | None]:
    """`--adb SERIAL`: typer options cannot take an optional value, so the serial arrives among the
    FILE arguments; it is the one argument that is neither an existing file nor a model file name."""
    from edgekit.errors import EdgekitError

    extra = [f for f in files if not f.is_file() and f.suffix.lower() not in MODEL_SUFFIXES]
    if not extra:
        return files, serial
    if len(extra) > 1 or serial:
        raise EdgekitError(f"not model files: {', '.join(map(str, extra))} (one adb serial at most)")
    return [f for f in files if f is not extra[0]], str(extra[0])


def _local(files, runtime, threads, warmup, runs, seconds) -> list[dict]:
    from edgekit.runtimes.bench import benchmark_files

    if not show_progress():
        return benchmark_files(files, runtime, threads, warmup, runs, seconds)
    from rich.progress import Progress

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("benchmarking", total=None)

        def progress(done, total):
            bar.update(task, completed=done, total=total)

        return benchmark_files(files, runtime, threads, warmup, runs, seconds, progress=progress)


def _flag_threads(results: list[dict]) -> None:
    """speedup_vs_1_thread / oversubscribed on every result (device results come with them), and one
    warning line on stderr when a thread count is above the machine's cores."""
    from edgekit.runtimes.device_bench import oversubscription_warning, thread_scaling

    if any("speedup_vs_1_thread" not in r for r in results):
        thread_scaling(results)
    warning = oversubscription_warning(results)
    if warning:
        err_console.print(warning, markup=False, highlight=False)


def _remote(kind: str, func: str, *args, **kwargs) -> list[dict]:
    import importlib

    from edgekit.errors import EdgekitError

    try:
        module = importlib.import_module(f"edgekit.runtimes.remote.{kind}")
        fn = getattr(module, func)
    except (ImportError, AttributeError):
        raise EdgekitError(f"--{kind} benchmarking is not available in this edgekit build "
                           f"(edgekit.runtimes.remote.{kind}.{func} missing)") from None
    return fn(*args, **kwargs)


def _ms(x) -> str:
    return "-" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.0f}")


def results_table(results: list[dict]):
    """A rich table of bench results (also used by other commands that show bench dicts)."""
    from rich import box
    from rich.table import Table

    first = results[0] if results else {}
    where = first.get("where", "local")
    host = first.get("host") or {}
    runtimes = sorted({r.get("runtime", "?") for r in results})
    counts = list(dict.fromkeys(r.get("threads", "?") for r in results)) or ["?"]
    title = (("EMULATED, times are not latencies · " if any(r.get("emulated") for r in results) else "")
             + f"{', '.join(runtimes)} · {','.join(map(str, counts))} thread(s) · {where}"
             f" ({host.get('machine', '?')}, {host.get('cpu_count', '?')} cpus)")
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    several = len(results) > 1
    scaling = len(counts) > 1  # a --threads list: the count and the speed-up against 1 thread per row
    cols = ["file", "runtime"] + (["threads", "×1 thread"] if scaling else []) + ["runs", "median ms"] + (
        ["×best"] if several else []) + [
        "p90", "p99", "min", "CV %", "init ms", "mem MB", "MAdds", "µs/MMAdd", "×target", "size"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("file", "runtime") else "right", no_wrap=True)
    best = min((r["latency_ms"]["median"] for r in results), default=None)
    for r in results:
        s = r["latency_ms"]
        mem = r.get("rss_delta_mb")
        if mem is None:
            mem = r.get("peak_rss_delta_mb")
        ratio = r.get("madds_ratio_to_target")
        head = [r.get("name") or Path(r["file"]).name, r["runtime"]]
        if scaling:
            speedup = r.get("speedup_vs_1_thread")
            head += [f"{r.get('threads', '?')}{' (!)' if r.get('oversubscribed') else ''}",
                     "-" if speedup is None else f"{speedup:.2f}"]
        head += [str(r["runs"]), _ms(s["median"])]
        if several:
            head.append(f"{s['median'] / best:.2f}" if best else "-")
        table.add_row(*head, _ms(s["p90"]),
                      _ms(s["p99"]), _ms(s["min"]), "-" if s.get("cv") is None else f"{100 * s['cv']:.1f}",
                      _ms(r.get("init_ms")),
                      "-" if mem is None else f"{mem:.1f}", human(r.get("madds")),
                      "-" if r.get("us_per_mmadd") is None else f"{r['us_per_mmadd']:.1f}",
                      "-" if ratio is None else f"{ratio:.2f}", human(r.get("size_bytes"), "B"))
    return table


def register(app: typer.Typer) -> None:
    app.command("bench", epilog=EXAMPLES)(bench_cmd)

"""The export pipeline, the same for every target: model → rewrite → convert → measure → commit.

    result = export_model("micronet-m0", "onnx", input_size=160)

Per target: the rewrite engine makes the model export-friendly (proven equivalent); the target's
exporter converts it into temporary paths; the artifact is then loaded on its real runtime and
compared with the PyTorch model (parity), its graph is counted (op census, MAdds) and measured
(size of every file), and a sidecar JSON plus a readable report are written. Only when every
step of every target succeeded are the files renamed into place (`fileio.atomic_outputs`), so a
failure leaves nothing behind and an existing file is never touched without `force`.

Targets are driven through `get_exporter(target)` and `open_runner(file)`; the only per-target
knowledge here is the ANALYSES table (which module counts a format's graph).
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit import __version__
from edgekit.analysis.reference import reference_path, write_reference
from edgekit.artifact import sidecar_path, sidecar_text
from edgekit.errors import EdgekitError
from edgekit.exporters.base import EXPORTERS, ExportOptions, get_exporter
from edgekit.exporters.report import render_report
from edgekit.fileio import atomic_outputs, check_writable

ALL_TARGETS = tuple(EXPORTERS)  # onnx, tflite, openvino
PRECISIONS = ("fp32", "fp16", "int8")
CALIB_METHODS = ("minmax", "percentile", "entropy")
MULTI_IO_INT8 = ("onnx", "tflite", "openvino", "executorch")  # targets whose INT8 takes per-input calibration
MULTI_IO_INT8_IO = ("onnx", "tflite", "openvino")  # targets whose --int8-io is per input / output name

# target → (census "module:function" (path) -> dict, graph MAdds "module:function" (path) -> int | .total,
# or None when the census dict carries "graph_madds" itself)
ANALYSES = {
    "onnx": ("edgekit.analysis.census_onnx:census", "edgekit.analysis.graph_madds:graph_madds"),
    "tflite": ("edgekit.analysis.census_tflite:census", None),
    "openvino": ("edgekit.analysis.census_openvino:census", None),
    "executorch": ("edgekit.analysis.census_executorch:census", None),
}

Progress = Callable[[str, int, int], None]  # (step description, steps done, steps total)


@dataclass
class TargetExport:
    target: str
    file: Path
    files: list[Path]
    sidecar: Path
    report: Path | None
    meta: dict  # the sidecar's content

    def to_dict(self) -> dict:
        return self.meta | {"file": str(self.file), "files": [str(f) for f in self.files],
                            "sidecar": str(self.sidecar), "report": str(self.report) if self.report else None}


@dataclass
class ExportResult:
    model: str
    exports: list[TargetExport] = field(default_factory=list)
    report: Path | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return self.exports[0].file

    def to_dict(self) -> dict:
        return {"model": self.model, "report": str(self.report) if self.report else None,
                "seconds": round(self.seconds, 3), "warnings": list(self.warnings),
                "exports": [e.to_dict() for e in self.exports]}


# ----------------------------------------------------------------------------------------- paths

def artifact_stem(model_name: str, precision: str) -> str:
    """'micronet-m0' / 'micronet-m0-fp16'; a 'dir/net.py:build' source becomes 'net-build'."""
    base = model_name
    if ":" in base:
        target, _, factory = base.rpartition(":")
        base = f"{Path(target).stem if target.endswith('.py') else target}-{factory}"
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(base).name).strip("-.") or "model"
    return base if precision == "fp32" else f"{base}-{precision}"


def plan_paths(targets: list[str], exporters: dict, stem: str, out) -> dict[str, list[Path]]:
    """Final paths per target. `out`: None (current dir), a directory, or (one target) a file."""
    out_dir, main = Path(), None  # relative: messages and JSON show what the user would type
    if out is not None:
        o = Path(out)
        known = {s for e in exporters.values() for s in e.suffixes}
        is_file = o.suffix.lower() in known and not o.is_dir()
        if is_file and len(targets) > 1:
            raise EdgekitError(f"-o {out}: with --target all, -o takes a directory")
        if is_file:
            main = o
        elif o.suffix and not o.is_dir() and not str(out).endswith(("/", "\\")):
            raise EdgekitError(f"-o {out}: expected a directory or a {'/'.join(sorted(known))} file")
        else:
            out_dir = o
    plan = {}
    for t in targets:
        suffixes = exporters[t].suffixes
        if main is not None:
            if main.suffix.lower() != suffixes[0]:
                raise EdgekitError(f"-o {out}: --target {t} writes a {suffixes[0]} file")
            base = main.with_suffix("")
        else:
            base = out_dir / stem
        plan[t] = [base.with_name(base.name + s) for s in suffixes]
    return plan


def report_path_for(main_file: Path) -> Path:
    return main_file.with_name(main_file.name + ".report.md")


def artifact_size(paths) -> int:
    return sum(Path(p).stat().st_size for p in paths if Path(p).is_file())


# --------------------------------------------------------------------------------------- rewrite

def rewrite_model(model, card, target: str, verify: bool, tune: bool = False) -> tuple[object, list[dict], str]:
    """(model to export, rewrite log as dicts, status) — the unmodified model when no engine exists."""
    try:
        from edgekit.rewrite.pipeline import rewrite_for_export
    except ModuleNotFoundError as exc:
        if exc.name in ("edgekit.rewrite.pipeline", "edgekit.rewrite"):
            return model, [], "unavailable"
        raise
    # The engine works on its own deep copy: `model` stays the untouched reference for parity.
    shape = tuple(card.input_size) if card.io.is_single else card.io
    rewritten, log = rewrite_for_export(model, input_shape=shape, target=target, verify=verify,
                                      tune=tune)
    rewritten.eval()
    if getattr(rewritten, "card", None) is None:
        rewritten.card = card
    return rewritten, [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in log], "applied"


def _call(spec: str | None, *args):
    if spec is None:
        return None
    module_name, _, fn = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("edgekit"):
            return None  # that format's analysis is not in this build yet
        raise
    return getattr(module, fn)(*args)


def _madds_total(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("total")
    return int(getattr(value, "total", value)) if value is not None else None


def analyse(target: str, path: Path) -> tuple[dict | None, int | None, dict | None]:
    """(census, graph MAdds, graph MAdds detail) of an artifact, through the ANALYSES table."""
    census_fn, madds_fn = ANALYSES.get(target, (None, None))
    census = _call(census_fn, path)
    detail = _call(madds_fn, path)
    total = _madds_total(detail)
    if total is None and census is not None and census.get("graph_madds") is not None:
        total = int(census["graph_madds"])
    return census, total, (detail.to_dict() if hasattr(detail, "to_dict") else None)


def check_io(target: str, io, runner) -> None:
    """The converted file keeps the IO spec: the same input and output names, in the same order, with
    the same shapes. A converter that renamed or reordered them fails the export (nothing written)."""
    got_in = [s.name for s in runner.inputs()]
    got_out = [s.name for s in runner.outputs()]
    if target == "executorch":  # a .pte stores no names: its method's order is checked by shape below
        got_in, got_out = (io.input_names[: len(got_in)] + got_in[len(io.input_names):],
                           io.output_names[: len(got_out)] + got_out[len(io.output_names):])
    if got_in != io.input_names or got_out != io.output_names:
        raise EdgekitError(f"{target}: the converted file's I/O is ({', '.join(got_in)}) -> ({', '.join(got_out)}), "
                           f"the model's ({', '.join(io.input_names)}) -> ({', '.join(io.output_names)})")
    from edgekit.layouts import to_channels_last

    for spec, s in zip(io.inputs, runner.inputs()):
        nchw = (1, *spec.shape)
        nhwc = tuple(nchw[i] for i in to_channels_last(len(nchw))) if len(nchw) in (4, 5) else nchw
        if tuple(s.shape) not in (nchw, nhwc):  # channels-last: --nhwc on an image / flow / clip input
            raise EdgekitError(f"{target}: input {spec.name} has shape {tuple(s.shape)} in the converted file, "
                               f"the model takes {(1, *spec.shape)}")


# ---------------------------------------------------------------------------------- calibration

def load_int8_data(calib, card, calib_size: int | None, max_drop: float | None) -> tuple[object, dict]:
    """(calibration batch NCHW float32, extra options): the held-out quarter is for --max-drop."""
    import numpy as np

    if calib is None:
        raise EdgekitError("--int8 needs calibration data: --calib DIR|file.npy|file.npz "
                           "(or --calib synthetic for a smoke test; accuracy is then meaningless)")
    if isinstance(calib, np.ndarray):
        x, labels = calib.astype(np.float32), None
    else:
        try:
            from edgekit.calibration import load_calibration
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("edgekit"):
                raise EdgekitError("--int8 is not available yet in this build of edgekit (no edgekit.calibration)") from None
            raise
        x, labels = load_calibration(calib, card, size=calib_size, seed=0)
    expected = tuple(card.input_size)
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise EdgekitError(f"calibration data has shape {tuple(x.shape)}, the model takes (N, {', '.join(map(str, expected))})")
    extra = {"calib_labels": labels, "calib_size": int(x.shape[0])}
    if max_drop is not None:
        if labels is None:
            raise EdgekitError("--max-drop needs labeled data: class sub-folders, or an .npz with a 'y' array")
        n_eval = max(1, len(x) // 4)
        if len(x) - n_eval < 1:
            raise EdgekitError(f"--max-drop needs at least 2 labeled samples, got {len(x)}")
        extra |= {"max_drop": max_drop, "eval_data": (x[-n_eval:], labels[-n_eval:])}
        x, extra["calib_labels"] = x[:-n_eval], labels[:-n_eval]
    return x, extra


# ---------------------------------------------------------------------------------------- export

def _validate(target, precision, opset, calib, int8_io, calib_method, n_parity):
    if target != "all" and target not in EXPORTERS:
        get_exporter(target)  # raises the unknown-target error with close matches
    if precision not in PRECISIONS:
        raise EdgekitError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if opset < 17:
        raise EdgekitError(f"--opset {opset} is too old: edgekit exports opset 17 or newer")
    if calib_method not in CALIB_METHODS:
        raise EdgekitError(f"unknown --calib-method {calib_method!r}; choose from {', '.join(CALIB_METHODS)}")
    if precision != "int8" and (calib is not None or int8_io):
        raise EdgekitError(f"{'--calib' if calib is not None else '--int8-io'} only applies with --int8")
    if n_parity < 0:
        raise EdgekitError("n_parity must be >= 0")


def export_model(source, target: str, *, weights=None, num_classes=None, input_size=None, input_shape=None,
                 precision: str = "fp32", opset: int = 18, rewrite: bool = True, verify: bool = True, out=None,
                 force: bool = False, calib=None, calib_method: str = "minmax", int8_io: bool = False,
                 nhwc: bool = False, n_parity: int = 8, progress: Progress | None = None,
                 calib_size: int | None = None, max_drop: float | None = None, tune_forms: bool = False,
                 compat: str | None = None, int8_search: bool = True, inputs: list[str] | None = None,
                 condition: bool = False, stream: bool = False, window: int | None = None) -> ExportResult:
    """Export `source` (zoo name, file.py:factory, module:factory) to `target` ("all" for every target).

    `condition=True` sets an untrained user model's BatchNorm statistics from random data (as the zoo's
    are), so its outputs, parity and calibration are meaningful; the card records it.

    `int8_search=False` keeps the default INT8 policy (every layer group INT8 but the dynamic heads)
    instead of timing each group both ways on this machine: for an export made on a machine that is
    not the target (an x86 host without VNNI keeps onnxruntime's M0 all float; an ARM board may not).

    Several inputs: `inputs=["image=3,64,64", "tokens=12:int64"]` (or a list of `input_shape`s in
    forward's order); every target keeps the IO spec's names and order (checked after conversion) and
    parity is measured per output.

    Returns an ExportResult; raises EdgekitError for user mistakes (nothing is written then).
    """
    t_start = time.perf_counter()
    _validate(target, precision, opset, calib, int8_io, calib_method, n_parity)
    targets = list(ALL_TARGETS) if target == "all" else [target]
    if compat is not None:  # --compat tflite-runtime==2.14: checked on the converted file, before anything is written
        from edgekit.analysis.runtime_compat import compat_format

        if compat_format(compat) not in targets:
            raise EdgekitError(f"--compat {compat} is about {compat_format(compat)} files; this export makes "
                               f"{', '.join(targets)}")
    exporters = {t: get_exporter(t) for t in targets}  # fail fast on a target this build lacks
    if target == "all":  # every target that joins `all` with these options (executorch: NCHW float I/O only)
        def joins(e) -> bool:
            return (precision in getattr(e, "all_precisions", getattr(e, "precisions", PRECISIONS))
                    and not (nhwc and getattr(e, "nchw_only", False))
                    and not (int8_io and getattr(e, "float_io_only", False)))

        targets = [t for t in targets if joins(exporters[t])]
        exporters = {t: exporters[t] for t in targets}
    for t, e in exporters.items():
        supported = getattr(e, "precisions", None)
        if supported is not None and precision not in supported:
            raise EdgekitError(f"--target {t} does not support {precision} in this build (it does {', '.join(supported)})")
        if int8_io and getattr(e, "float_io_only", False):  # before any path is made: nothing written
            raise EdgekitError(f"--int8-io is not supported on {t}: the program keeps float input and output")

    steps_total = 1 + 4 * len(targets)
    done = 0

    def step(message: str):
        nonlocal done
        if progress is not None:
            progress(message, done, steps_total)
        done += 1

    stem = artifact_stem(str(source), precision) + ("-stream" if stream else "")  # paths first: refuse early
    plan = plan_paths(targets, exporters, stem, out)
    report_combined = None
    if len(targets) > 1:
        base = plan[targets[0]][0]
        report_combined = base.with_name(base.name.rsplit(".", 1)[0] + ".report.md")
    finals: list[Path] = []
    for t in targets:
        main = plan[t][0]
        finals += plan[t] + [sidecar_path(main)] + ([reference_path(main)] if n_parity else [])
        if report_combined is None:
            finals.append(report_path_for(main))
    if report_combined is not None:
        finals.append(report_combined)
    check_writable(finals, force)

    step("loading model")
    import torch

    from edgekit.analysis.flops import count_madds
    from edgekit.models.source import load_model

    model, card = load_model(source, weights=weights, num_classes=num_classes, input_size=input_size,
                             input_shape=input_shape, inputs=inputs, condition_user=condition)
    model.eval()
    stream_export = None
    if stream:  # the step model (edgekit/rewrite/stream) is what gets exported, proven exact first
        from edgekit.rewrite.stream.export import prepare_stream

        if nhwc:  # channels-last would also move the 4-D states, which the runners carry back as they come out
            raise EdgekitError("--stream --nhwc is not supported yet: the step model takes N,C,s,H,W chunks (export "
                               "without --nhwc)")
        if int8_io:  # refused before anything is traced (the TFLite quantizer would fail deep inside otherwise)
            raise EdgekitError("--stream --int8-io: the states must stay float at the file's boundary (the step is "
                               "INT8 inside either way); drop --int8-io")
        stream_export = prepare_stream(model, card, window=window, verify=verify)
        model, card = stream_export.step, stream_export.card
    io = card.io
    if not io.is_single:
        for flag, given, ok in (("INT8", precision == "int8", MULTI_IO_INT8), ("--int8-io", int8_io, MULTI_IO_INT8_IO)):
            # a float-I/O-only target (executorch) says so itself, for one input as for several
            not_yet = [t for t in targets if t not in ok and not getattr(exporters[t], "float_io_only", False)]
            if given and not_yet:
                raise EdgekitError(f"{flag} of a model with several inputs or outputs is not in this build yet for "
                                   f"{', '.join(not_yet)} (it is for {', '.join(ok)})")
    base_madds = count_madds(model, card.input_size if io.is_single else io)
    calib_x, calib_extra = (None, {})
    if precision == "int8" and stream_export is not None:  # states calibrated by streaming the clips
        if calib is None:
            raise EdgekitError("--int8 --stream needs calibration clips: --calib clips.npz|clips/ (or --calib synthetic)")
        calib_x = stream_export.calibration(calib, calib_size)
        calib_extra = {"calib_labels": None, "calib_size": int(len(calib_x[io.input_names[0]])),
                       "search": bool(int8_search)}
    elif precision == "int8" and not io.is_single:  # one array per input name, checked against the spec
        if calib is None:
            raise EdgekitError("--int8 needs calibration data: --calib data.npz (one array per input name), a "
                               "folder with one sub-folder per input, or --calib synthetic")
        from edgekit.calibration.per_input import load_per_input, split_for_max_drop

        calib_x = load_per_input(calib, io, size=calib_size)
        calib_extra = {"calib_labels": None, "search": bool(int8_search)}
        if max_drop is not None:  # the held-out quarter, judged on every output against PyTorch's
            calib_x, calib_extra["eval_data"] = split_for_max_drop(model, io, calib_x)
            calib_extra["max_drop"] = max_drop
        calib_extra["calib_size"] = int(len(calib_x[io.input_names[0]]))
    elif precision == "int8":
        calib_x, calib_extra = load_int8_data(calib, card, calib_size, max_drop)
        calib_extra["search"] = bool(int8_search)

    result = ExportResult(model=card.name)
    metas: list[dict] = []
    with atomic_outputs(*finals, force=force) as temps:
        tmp_of = dict(zip(finals, temps))
        for t in targets:
            paths = [tmp_of[p] for p in plan[t]]
            meta = _export_one(t, exporters[t], model, card, base_madds, paths, source=source, precision=precision,
                               opset=opset, rewrite=rewrite, verify=verify, calib_x=calib_x,
                               calib_extra=calib_extra, calib_method=calib_method, int8_io=int8_io, nhwc=nhwc,
                               n_parity=n_parity, step=step, torch=torch, tune_forms=tune_forms, compat=compat)
            if stream_export is not None:  # streamed outputs on the runtime vs the whole-video clip model
                meta["stream"] = stream_export.measure(t, paths[0], precision)
                meta["warnings"] += [f"streamed output {n}: {p['rel_max_abs_diff']:.2e} x its scale exceeds "
                                     f"{meta['stream']['parity']['tolerance']:.0e}"
                                     for n, p in meta["stream"]["parity"]["outputs"].items() if not p["ok"]]
                meta["warnings"] += [f"streamed output {n}: the INT8 error grows over the stream (first third "
                                     f"{p['by_position']['first']:.3g}, last {p['by_position']['last']:.3g} x its scale)"
                                     for n, p in meta["stream"]["parity"]["outputs"].items()
                                     if p.get("grows") and p.get("by_position")]
            meta["file"] = plan[t][0].name
            meta["files"] = [p.name for p in plan[t]]
            reference = meta.pop("_reference", None)
            if reference is not None:  # inputs + PyTorch outputs for parity on a device (bench --parity)
                write_reference(tmp_of[reference_path(plan[t][0])], reference)
                n_ref = len(reference["x"]) if "x" in reference else len(reference[f"x:{card.io.input_names[0]}"])
                meta["reference"] = {"file": reference_path(plan[t][0]).name, "n": int(n_ref),
                                     "inputs": meta["parity"]["inputs"]}
            tmp_of[sidecar_path(plan[t][0])].write_text(sidecar_text(meta))
            metas.append(meta)
            report = None
            if report_combined is None:
                report = report_path_for(plan[t][0])
                tmp_of[report].write_text(render_report([meta]))
            result.exports.append(TargetExport(t, plan[t][0], list(plan[t]), sidecar_path(plan[t][0]), report, meta))
            result.warnings += [f"{t}: {w}" for w in meta.get("warnings", [])]
        if report_combined is not None:
            tmp_of[report_combined].write_text(render_report(metas))
            result.report = report_combined
        else:
            result.report = result.exports[0].report
    result.seconds = time.perf_counter() - t_start
    if progress is not None:
        progress("done", steps_total, steps_total)
    return result


def _export_one(target, exporter, model, card, base_madds, paths, *, source, precision, opset, rewrite, verify,
                calib_x, calib_extra, calib_method, int8_io, nhwc, n_parity, step, torch, tune_forms=False,
                compat=None) -> dict:
    from edgekit.analysis.flops import count_madds
    from edgekit.analysis.parity import is_channels_last, measure_parity
    from edgekit.analysis.reference import make_reference, reference_samples
    from edgekit.analysis.runtime_compat import check_compat, compat_format
    from edgekit.runtimes.base import open_runner

    warnings: list[str] = []
    timings: dict[str, float] = {}

    step(f"{target}: rewriting" if rewrite else f"{target}: preparing")
    t0 = time.perf_counter()
    if rewrite:
        export_net, log, status = rewrite_model(model, card, target, verify, tune=tune_forms)
        if status == "unavailable":
            warnings.append("rewrite engine not available in this build: exported the unmodified model")
    else:
        export_net, log, status = model, [], "skipped (--no-rewrite)"
    # what a pass recognised as input-dependent but could not make static: named, so a user knows what to change
    for rec in log:
        for what in (rec.get("details") or {}).get("left", []):
            warnings.append(f"left as the stock converter has it ({rec.get('name')} found no static form): {what}")
    timings["rewrite"] = time.perf_counter() - t0
    io = card.io
    shape = tuple(card.input_size) if io.is_single else io
    madds_after = count_madds(export_net, shape) if export_net is not model else base_madds
    overhead = madds_after.conv_madds - base_madds.conv_madds

    step(f"{target}: converting")
    if io.is_single:
        example = torch.zeros((1, *card.input_size))
    else:  # a flat tuple of outputs in the spec's order, whatever forward returns (dict, nested tuples)
        from edgekit.models.examples import FlatOutputs, example_inputs

        card_of = getattr(export_net, "card", card)
        export_net = FlatOutputs(export_net).eval()
        export_net.card = card_of
        example = example_inputs(io)
    options = ExportOptions(target=target, precision=precision, opset=opset, nhwc=nhwc, int8_io=int8_io,
                            calib=calib_x, calib_method=calib_method, extra=dict(calib_extra))
    options.extra["metadata"] = {
        "edgekit_version": __version__, "model": card.name, "source": str(source), "precision": precision,
        "card": card.to_dict(), "madds": {"params": base_madds.params, "conv_madds": base_madds.conv_madds,
                                          "rewrite_overhead": overhead},
        "rewrites": [r.get("name", "?") for r in log],
    }
    if not io.is_single:
        options.extra["io"] = io
        options.extra["metadata"]["io"] = io.to_dict()
    t0 = time.perf_counter()
    with torch.no_grad():
        converted = exporter.convert(export_net, example, list(paths), options) or {}
    timings["convert"] = time.perf_counter() - t0
    if compat is not None and compat_format(compat) == target:
        converted["compat"] = {"requested": compat, **check_compat(paths[0], compat)}

    step(f"{target}: parity on the runtime")
    t0 = time.perf_counter()
    runner = open_runner(paths[0], threads=1)
    inputs = [vars(s) | {"shape": list(s.shape)} for s in runner.inputs()]
    outputs = [vars(s) | {"shape": list(s.shape)} for s in runner.outputs()]
    if io.is_single:
        # INT8 is judged on the data it was calibrated for; random inputs would fall outside its ranges.
        parity_data = calib_x if (precision == "int8" and calib_x is not None) else None
        parity = measure_parity(model, runner, tuple(card.input_size), n=n_parity, nhwc=True if nhwc else None,
                                precision=precision, inputs=parity_data) if n_parity else None
        reference = make_reference(model, runner, reference_samples(card.input_size, parity_data),
                                   nhwc=bool(nhwc) or is_channels_last(runner.inputs()[0], tuple(card.input_size))) \
            if n_parity else None
        parity_dict = (parity.to_dict() | {"inputs": "calibration data" if parity_data is not None
                                           else "random normal + structured"}) if parity is not None else None
    else:  # names and order first: parity per output only means something once they are right
        from edgekit.analysis.parity import measure_parity_io
        from edgekit.analysis.reference import make_reference_io
        from edgekit.analysis.sample_inputs import sample_set

        check_io(target, io, runner)
        for entry, name in zip(inputs + outputs, io.input_names + io.output_names):
            entry["name"] = name  # ExecuTorch's runner reads them back from the sidecar
        # INT8 is judged on the data it was calibrated for; random inputs would fall outside its ranges
        calib_samples = None if calib_x is None else [
            tuple(calib_x[n][i:i + 1] for n in io.input_names) for i in range(len(calib_x[io.input_names[0]]))]
        parity_dict = measure_parity_io(model, runner, io, n=n_parity, precision=precision,
                                        samples=calib_samples) if n_parity else None
        if parity_dict is not None:
            parity_dict["inputs"] = "calibration data" if calib_samples else "random + structured per input kind"
        reference = make_reference_io(model, runner, sample_set(io, 2), io) if n_parity else None
        parity = None
    del runner
    timings["parity"] = time.perf_counter() - t0
    if parity is not None and not parity.ok:
        line = f"parity {parity.rel_max_abs_diff:.2e} x output scale exceeds the {precision} tolerance {parity.tolerance:.0e}"
        if precision == "fp32":  # is it the runtime, or the model's own float32 sensitivity?
            from edgekit.analysis.parity import float32_noise

            noise = float32_noise(model, tuple(card.input_size), n=n_parity)
            parity_dict["model_fp32_vs_fp64"] = noise
            line += (f"; the PyTorch model itself differs from its float64 run by {noise:.2e} x scale on the same "
                     "inputs" + (" (an ill-conditioned model: the runtime is within its own float32 noise)"
                                 if noise * 10 >= parity.rel_max_abs_diff else ""))
        warnings.append(line)
    if parity is not None and parity.output_scale < 1e-6:
        warnings.append(f"outputs are ~0 (max |logit| {parity.output_scale:.1e}): parity says little — untrained "
                        "weights with default BatchNorm statistics?")
    for name, p in ((parity_dict or {}).get("outputs") or {}).items():
        if not p["ok"]:
            warnings.append(f"parity of output {name}: {p['rel_max_abs_diff']:.2e} x its scale exceeds the "
                            f"{precision} tolerance {p['tolerance']:.0e}")
        elif p["output_scale"] < 1e-6:
            warnings.append(f"output {name} is ~0 (max {p['output_scale']:.1e}): parity says little")

    step(f"{target}: census and MAdds")
    t0 = time.perf_counter()
    census, graph_total, graph_detail = analyse(target, paths[0])
    timings["analyse"] = time.perf_counter() - t0
    expected = base_madds.conv_madds + overhead
    madds = {"params": base_madds.params, "conv_madds": base_madds.conv_madds,
             "dynamic_madds": base_madds.dynamic_madds, "total_madds": base_madds.total_madds,
             "rewrite_overhead": overhead, "graph_madds": graph_total,
             "graph_matches_model": (graph_total == expected) if graph_total is not None else None}
    if graph_detail is not None:
        madds["graph_by_op"] = graph_detail.get("by_op")
    if graph_total is not None and graph_total != expected:
        warnings.append(f"graph MAdds {graph_total:,} != model {base_madds.conv_madds:,} + rewrite overhead {overhead:,}")

    quantization = converted.pop("quantization", None)
    if not io.is_single and (quantization or {}).get("accuracy"):  # --max-drop: what "top-1" means here
        quantization["accuracy"]["metric"] = (
            "output fidelity: 100 x (1 - worst over outputs of max |int8 - PyTorch| / that output's max |PyTorch|) "
            "on the held-out quarter of the calibration data; --max-drop is in those points (% of an output's scale)")
    layout = converted.get("layout") or ("nhwc" if nhwc else "nchw")
    return {
        "edgekit_version": __version__,
        "model": card.name,
        "source": str(source),
        "target": target,
        "precision": precision,
        "size_bytes": artifact_size(paths),
        "card": card.to_dict(),
        "madds": madds,
        "rewrite_status": status,
        "rewrites": log,
        "parity": parity_dict,
        "census": census,
        "conversion_seconds": round(timings["convert"], 3),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "layout": layout,
        "inputs": inputs,
        "outputs": outputs,
        "io": io.to_dict(),
        "quantization": quantization,
        "export": converted,
        "warnings": warnings,
        "_reference": reference,  # written to <file>.edgekit.ref.npz by export_model, not into the sidecar
    }

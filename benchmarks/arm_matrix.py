"""The README's ARM matrix: zoo models x {fp32, fp16, int8} x each aarch64 runtime build that runs under emulation.

    edgekit device setup --runtime litert --runtime tflite-runtime --runtime onnxruntime --runtime openvino
    python benchmarks/arm_matrix.py -o benchmarks/results/arm_matrix.md                 # M0-M3 at 224
    python benchmarks/arm_matrix.py --models micronet-m0 --input-size 64 -o /tmp/m.md  # a quick one

Every cell is measured on genuine ARM kernels (the aarch64 wheels under qemu-user, no timing): does
the runtime load the export, does it run, and its outputs against PyTorch's on the reference inputs
stored with the export (analysis.reference): max |diff| x output scale (bound: FP32 1e-4, FP16 1e-2),
cosine, top-1 agreement. INT8 is calibrated on --calib (default: synthetic images, so its agreement
numbers are about the kernels, not accuracy); the digits rows are the trained digits MicroNet-M0
(scripts/train_digits_fixture.py), INT8 top-1 on its 449 held-out images measured on each ARM build
next to FP32 on x86. `row()` is what tests/remote/test_arm_matrix.py runs for its bounded set.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

TARGET_OF = {"litert": "tflite", "tflite-runtime": "tflite", "onnxruntime": "onnx", "openvino": "openvino"}
MODELS = ("micronet-m0", "micronet-m1", "micronet-m2", "micronet-m3")
PRECISIONS = ("fp32", "fp16", "int8")


def export(model: str, precision: str, target: str, out: Path, *, input_size=None, weights=None, num_classes=None,
           calib="synthetic", calib_size: int = 32, input_shape=None) -> Path:
    from edgekit.exporters import pipeline

    extra = {"calib": calib, "calib_size": calib_size, "int8_search": False} if precision == "int8" else {}
    # int8_search=False: every group INT8 (this matrix is about the ARM INT8 kernels, and a search timed on
    # the x86 host can keep a whole model float: onnxruntime's M0 on an AVX2-only host)
    r = pipeline.export_model(model, target, precision=precision, input_size=input_size, input_shape=input_shape,
                              weights=weights, num_classes=num_classes, out=out, n_parity=4, force=True, **extra)
    return r.file


def row(device, runtime: str, file) -> dict:
    """One matrix cell: load + run `file`'s reference inputs on `runtime`'s aarch64 build, parity vs PyTorch."""
    from edgekit.analysis.reference import compare_outputs, load_reference
    from edgekit.artifact import read_sidecar
    from edgekit.errors import EdgekitError
    from edgekit.runtimes.remote.ssh import reference_inputs

    meta = read_sidecar(file)
    ref = load_reference(file)
    q = meta.get("quantization") or {}
    cell = {"model": meta.get("model"), "precision": meta.get("precision"), "runtime": runtime,
            "file": Path(file).name, "loads": False, "int8_layers": q.get("n_int8"), "float_layers": q.get("n_float")}
    try:
        y, report = device.predict(runtime, file, reference_inputs(ref))
    except EdgekitError as exc:
        return cell | {"error": str(exc)}
    cell |= {"loads": True, "runs": True, "version": report["runtime_version"], "machine": report["host"]["machine"],
             "emulated": report["emulated"], "parity": compare_outputs(ref, y, meta.get("precision"))}
    return cell


def digits_top1(device, runtime: str, file, test_npz) -> dict:
    """Top-1 of `file` on the digits test set, run on `runtime`'s aarch64 build."""
    import numpy as np

    from edgekit.analysis.accuracy import topk_accuracy
    from edgekit.analysis.parity import from_runner_output, to_runner_input
    from edgekit.artifact import read_sidecar
    from edgekit.calibration import load_calibration_set
    from edgekit.models.card import Card
    from edgekit.runtimes.remote.device_eval import _spec

    meta = read_sidecar(file)
    card = Card.from_dict(meta["card"])
    data = load_calibration_set(test_npz, card)
    in_spec, out_spec = _spec(meta["inputs"][0]), _spec(meta["outputs"][0])
    feeds = np.stack([to_runner_input(x[None], in_spec, meta.get("layout") == "nhwc")[0] for x in data.x])
    y, report = device.predict(runtime, file, feeds)
    logits = np.stack([from_runner_output(v, out_spec) for v in y]).reshape(len(feeds), -1)
    return {"top1": topk_accuracy(logits, data.labels).top1, "version": report["runtime_version"], "n": len(feeds)}


# "vs x86": the same file's outputs on the export machine's runtime against the ARM build's, x output
# scale: what the ARM kernels change, apart from what quantization or FP16 already cost on x86.
HEADER = ["| model | precision | aarch64 runtime | loads | runs | max diff x scale | cosine | top-1 agree | vs x86 |",
          "|---|---|---|---|---|---:|---:|---:|---:|"]


def _fmt(cell: dict) -> str:
    precision = cell["precision"]
    if cell.get("int8_layers") is not None:  # an "INT8" file whose layers stayed float judges no INT8 kernel
        precision += f" ({cell['int8_layers']}/{cell['int8_layers'] + cell['float_layers']} layers)"
    head = f"| {cell['model']} | {precision} |"
    if not cell.get("loads"):
        error = " ".join(cell.get("error", "?").split()).replace("|", "/")
        return f"{head} {cell['runtime']} | no | - | {error[:160]} | | | |"
    p = cell["parity"]
    bound = p.get("tolerance")
    verdict = "" if bound is None else (" ok" if p["ok"] else " EXCEEDS")
    x86 = p.get("vs_export_runtime", {}).get("rel_max_abs_diff")
    return (f"{head} {cell['runtime']} {cell['version']} | yes | yes | "
            f"{p['rel_max_abs_diff']:.1e}{verdict} | {p['cosine']:.6f} | {100 * p['top1_agreement']:.0f}% | "
            f"{'-' if x86 is None else f'{x86:.1e}'} |")


def _export_failed(model, precision, runtime, exc) -> str:
    error = " ".join(str(exc).split()).replace("|", "/")
    return f"| {model} | {precision} | {runtime} | - | - | export failed: {error[:160]} | | | |"


def main(argv=None) -> int:
    from edgekit.runtimes.remote.emulated import open_device

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--runtimes", default=None, help="default: every runtime set up on the device")
    ap.add_argument("--input-size", type=int, default=None)
    ap.add_argument("--input-shape", default=None, help="C,T,H,W for the video models (e.g. 3,8,56,56)")
    ap.add_argument("--cache", default="~/.cache/edgekit/aarch64")
    ap.add_argument("--no-digits", action="store_true")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args(argv)
    device = open_device(args.cache)
    runtimes = args.runtimes.split(",") if args.runtimes else list(device.runtimes)
    t0 = time.perf_counter()
    size = (args.input_shape if args.input_shape else f"{args.input_size}x{args.input_size}" if args.input_size
            else "each model's card input")
    lines = [f"Input: {size}; runtimes: {', '.join(runtimes)}.", ""] + HEADER
    out = Path(args.output) if args.output else None

    def emit(line: str) -> None:  # each row reaches the output file as it is measured: a long run can be cut short
        print(line, flush=True)
        lines.append(line)
        if out is not None:
            out.write_text("\n".join(lines) + "\n")

    if out is not None:
        out.write_text("\n".join(lines) + "\n")
    from edgekit.errors import EdgekitError

    with tempfile.TemporaryDirectory(prefix="arm-matrix-") as tmp:
        work = Path(tmp)
        for model in args.models.split(","):
            for precision in args.precisions.split(","):
                files = {}
                for rt in runtimes:
                    target = TARGET_OF[rt]
                    if target not in files:
                        try:
                            files[target] = export(model, precision, target, work / f"{model}-{precision}-{target}",
                                                   input_size=args.input_size, input_shape=args.input_shape)
                        except Exception as exc:  # noqa: BLE001 - a file that cannot be made is a finding
                            files[target] = exc if isinstance(exc, EdgekitError) else EdgekitError(
                                f"{type(exc).__name__}: {exc}")
                    if isinstance(files[target], Exception):
                        emit(_export_failed(model, precision, rt, files[target]))
                    else:
                        emit(_fmt(row(device, rt, files[target])))
        if not args.no_digits:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
            from train_digits_fixture import train

            from edgekit.analysis.accuracy import runner_predict, topk_accuracy
            from edgekit.calibration import load_calibration_set
            from edgekit.runtimes.base import open_runner

            d = train(work / "digits")
            for line in ["", "| digits M0 (32x32, 449 held out) | x86 FP32 top-1 | aarch64 runtime | "
                         "INT8 top-1 on ARM | FP32 top-1 on ARM |", "|---|---:|---|---:|---:|"]:
                emit(line)
            fp32 = {}
            for rt in runtimes:
                target = TARGET_OF[rt]
                for precision in ("fp32", "int8"):
                    if (target, precision) not in fp32:
                        fp32[(target, precision)] = export(
                            d["model"], precision, target, work / f"digits-{precision}-{target}", input_size=32,
                            weights=d["weights"], num_classes=10, calib=d["train"], calib_size=128)
                f32 = fp32[(target, "fp32")]
                runner = open_runner(f32)
                from edgekit.models.card import Card
                from edgekit.artifact import read_sidecar

                data = load_calibration_set(d["test"], Card.from_dict(read_sidecar(f32)["card"]))
                x86 = topk_accuracy(runner_predict(runner, data.x), data.labels).top1
                arm8 = digits_top1(device, rt, fp32[(target, "int8")], d["test"])
                arm32 = digits_top1(device, rt, f32, d["test"])
                line = (f"| micronet-m0 digits | {x86:.2f} | {rt} {arm8['version']} | {arm8['top1']:.2f} | "
                        f"{arm32['top1']:.2f} |")
                emit(line)
    text = "\n".join(lines) + f"\n\n(emulated aarch64 under qemu-user; {time.perf_counter() - t0:.0f} s)\n"
    if out is not None:
        out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

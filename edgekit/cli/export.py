"""`edgekit export MODEL --target onnx|tflite|openvino|all`: rewrite, convert, verify on the runtime."""

from __future__ import annotations

import typer

from edgekit.cli.common import (MAX_OPSET, InputOpt, InputShapesOpt, InputSizeOpt, input_shape_arg, JsonOpt, ModelArg, NumClassesOpt, WeightsOpt, console,
                                err_console, print_json, show_progress)
from edgekit.errors import EdgekitError

EXAMPLES = """Examples:

  edgekit export micronet-m0 --target onnx

  edgekit export micronet-m3 --target all -o build/ --weights m3.pth

  edgekit export micronet-m0 --target tflite --nhwc --fp16 --input-size 160

  edgekit export micronet-m1 --target onnx --int8 --calib images/ --calib-size 256

  edgekit export mynet.py:build --input-shape 3,96,96 --target openvino --json

  edgekit export resnet18-dyconv --target tflite --tune-forms

  edgekit export refine.py:build --input image=3,64,64 --input flow=2,64,64 --target all

  edgekit export retrieval.py:build --input video=512,32 --input tokens=12:int64 --target onnx

  edgekit export s3d-small --stream --target tflite        # step model: 2 frames in, states carried
"""


def export_cmd(
    model: str = ModelArg,
    target: str = typer.Option("onnx", "--target", "-t", help="onnx, tflite, openvino, or all (the three, one report)."),
    weights: str = WeightsOpt,
    num_classes: int = NumClassesOpt,
    input_size: int = InputSizeOpt,
    input_shape: list[str] = InputShapesOpt,
    input: list[str] = InputOpt,
    output: str = typer.Option(None, "--output", "-o",
                               help="Output file (one target) or directory. Default: ./<model>[-<precision>].<ext>"),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
    opset: int = typer.Option(18, "--opset", min=17, max=MAX_OPSET, help="ONNX opset (17 to 23)."),
    no_rewrite: bool = typer.Option(False, "--no-rewrite", help="Export the model as it is (no export-friendly rewrites)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the equivalence check of each rewrite."),
    tune_forms: bool = typer.Option(False, "--tune-forms",
                                    help="Pick each DY-Conv layer's static form by timing the candidates on the "
                                         "target runtime (slower export; default: a measured rule)."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 weights (I/O stays float32)."),
    nhwc: bool = typer.Option(False, "--nhwc", help="Channels-last (1, H, W, C) input, what camera pipelines feed."),
    int8: bool = typer.Option(False, "--int8", help="INT8, calibrated on --calib data."),
    calib: str = typer.Option(None, "--calib", help="Calibration data: image folder, .npy/.npz, or 'synthetic'."),
    calib_size: int = typer.Option(None, "--calib-size", min=1, max=1_000_000, help="Number of calibration samples (deterministic sample)."),
    calib_method: str = typer.Option("minmax", "--calib-method", help="minmax, percentile or entropy."),
    int8_io: bool = typer.Option(False, "--int8-io", help="Integer input/output tensors (with --int8)."),
    max_drop: float = typer.Option(None, "--max-drop", min=0.0, max=100.0,
                                   help="Top-1 points INT8 may lose on held-out labeled --calib data; "
                                        "sensitive layers stay float until it holds."),
    no_int8_search: bool = typer.Option(False, "--no-int8-search",
                                        help="Keep every layer group INT8 but the dynamic heads instead of timing "
                                             "each group both ways here (use when this machine is not the target)."),
    condition: bool = typer.Option(False, "--condition",
                                   help="Set an untrained model's BatchNorm statistics from random data (as the "
                                        "zoo does without --weights), so outputs are O(1); the card records it."),
    parity_inputs: int = typer.Option(8, "--parity-inputs", min=0, max=1024, help="Inputs compared against PyTorch (0 to skip)."),
    compat: str = typer.Option(None, "--compat", metavar="PACKAGE==VERSION",
                               help="Fail (nothing written) unless that runtime version can load the export, "
                                    "e.g. tflite-runtime==2.14, onnxruntime==1.16, openvino==2023.3."),
    stream: bool = typer.Option(False, "--stream",
                                help="Export a step model: the next frames_per_step frames plus explicit state_* "
                                     "inputs in, the step's outputs plus the new states out (run it with "
                                     "`edgekit stream`); proven exact against the clip model first."),
    window: int = typer.Option(None, "--window", min=1, max=100_000,
                               help="With --stream, for a model ending in a global temporal pool: frames the "
                                    "streamed pool covers (default: the card's clip length)."),
    json_out: bool = JsonOpt,
):
    """Export MODEL to an edge runtime format, with a parity report measured on the runtime itself.

    Writes the model file(s), a sidecar `<file>.edgekit.json` (card, MAdds, rewrites, parity, op census)
    and a readable `<file>.report.md`; nothing is written unless every step succeeded.
    """
    if fp16 and int8:
        raise EdgekitError("--fp16 and --int8 exclude each other; pick one")
    precision = "int8" if int8 else "fp16" if fp16 else "fp32"
    if not int8:
        for flag, given in (("--calib-size", calib_size is not None), ("--max-drop", max_drop is not None),
                            ("--no-int8-search", no_int8_search)):
            if given:
                raise EdgekitError(f"{flag} only applies with --int8")

    if window is not None and not stream:
        raise EdgekitError("--window only applies with --stream")

    from edgekit.exporters.pipeline import export_model

    kwargs = dict(weights=weights, num_classes=num_classes, input_size=input_size,
                  input_shape=input_shape_arg(input_shape), inputs=list(input or []) or None,
                  precision=precision, opset=opset, rewrite=not no_rewrite, verify=not no_verify, out=output,
                  force=force, calib=calib, calib_method=calib_method, int8_io=int8_io, nhwc=nhwc,
                  n_parity=parity_inputs, calib_size=calib_size, max_drop=max_drop, tune_forms=tune_forms,
                  int8_search=not no_int8_search, condition=condition)
    if compat is not None:
        kwargs["compat"] = compat
    if stream:
        kwargs |= {"stream": True, "window": window}
    if show_progress() and not json_out:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True) as bar:
            task = bar.add_task(f"exporting {model}", total=None)

            def progress(message: str, done: int, total: int):
                bar.update(task, description=message, completed=done, total=total)

            result = export_model(model, target, progress=progress, **kwargs)
    else:
        result = export_model(model, target, **kwargs)

    if json_out:
        print_json(result.to_dict())
        return
    from edgekit.exporters.report import summary_lines

    for e in result.exports:
        for i, line in enumerate(summary_lines(e.meta)):
            style = "bold" if i == 0 else "yellow" if line.lstrip().startswith("warning") else None
            console.print(line, style=style, highlight=False, markup=False, soft_wrap=True)
    files = [str(f) for e in result.exports for f in e.files]
    console.print(f"wrote {', '.join(files)} (+ sidecar JSON) · report {result.report} · {result.seconds:.1f} s",
                  highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("export", epilog=EXAMPLES)(export_cmd)

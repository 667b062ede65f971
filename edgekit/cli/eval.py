"""`edgekit eval FILE_OR_MODEL --data DIR|file.npz`: top-1 / top-5 on labeled data.

An exported file (.onnx / .tflite / .xml) runs on its own runtime, preprocessed with the card from
its sidecar; a model source (zoo name, file.py:factory, with --weights) runs in PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import (MAX_RUNS, MAX_THREADS, InputShapeOpt, InputSizeOpt, JsonOpt, NumClassesOpt, WeightsOpt, console, print_json,
                                show_progress)
from edgekit.errors import EdgekitError

EXAMPLES = """Examples:

  edgekit eval m0.onnx --data val/

  edgekit eval m0_int8.tflite --data digits_test.npz --json

  edgekit eval m0_int8.tflite --data digits_test.npz --ssh pi@raspberrypi   # on the device's runtime

  edgekit eval micronet-m0 --weights digits_m0.pth --num-classes 10 --input-size 32 --data digits_test.npz
"""

MODEL_FILES = (".onnx", ".tflite", ".xml")
CHECKPOINTS = (".pth", ".pt", ".ckpt", ".bin")


def card_for_file(path: Path, runner):
    """The card stored next to an export, else one built from the runner's input (ImageNet mean/std)."""
    from edgekit.artifact import read_sidecar
    from edgekit.models.card import Card

    meta = read_sidecar(path)
    if meta.get("card"):
        return Card.from_dict(meta["card"]), "sidecar"
    shape = runner.inputs()[0].shape
    if len(shape) != 4:
        raise EdgekitError(f"{path} takes a {len(shape)}-D input; eval needs an image model (N,C,H,W)")
    c, h, w = shape[1:] if shape[1] in (1, 3, 4) else (shape[3], shape[1], shape[2])
    return Card(name=path.stem, input_size=(c, h, w), crop=h, resize=h), "input shape (no sidecar: ImageNet mean/std assumed)"


def eval_cmd(
    model: str = typer.Argument(..., metavar="FILE_OR_MODEL", help="Exported .onnx/.tflite/.xml, or a model source (zoo name, file.py:factory)."),
    data: str = typer.Option(..., "--data", "-d", help="Labeled data: image folder with class sub-folders, or .npz with x and y."),
    runtime: str = typer.Option("auto", "--runtime", "-r", help="Runtime for a file: auto (by extension), onnxruntime, litert, openvino."),
    weights: str = WeightsOpt,
    num_classes: int = NumClassesOpt,
    input_size: int = InputSizeOpt,
    input_shape: str = InputShapeOpt,
    size: int = typer.Option(None, "--size", "-n", min=1, max=MAX_RUNS, help="Evaluate on N samples (deterministic subset; default: all)."),
    threads: int = typer.Option(1, "--threads", "-t", min=1, max=MAX_THREADS, help="Runtime threads."),
    ssh: str = typer.Option(None, "--ssh", metavar="USER@HOST[:PORT]", help="Run the file on a device over SSH "
                            "(its own runtime; the data is preprocessed here and shipped as .npz)."),
    ssh_key: str = typer.Option(None, "--ssh-key", help="Private key for --ssh."),
    json_out: bool = JsonOpt,
):
    """Top-1 / top-5 accuracy of an exported file on its runtime, or of a PyTorch model."""
    import time

    from edgekit.analysis.accuracy import runner_predict, topk_accuracy
    from edgekit.calibration import load_calibration_set

    path = Path(model)
    t0 = time.perf_counter()
    if path.suffix.lower() in CHECKPOINTS:
        raise EdgekitError(f"{model} is a checkpoint: name the architecture and pass it with --weights "
                           f"(edgekit eval micronet-m0 --weights {model} ...)")
    if ssh_key and not ssh:
        raise EdgekitError("--ssh-key needs --ssh")
    if ssh:
        if path.suffix.lower() not in MODEL_FILES:
            raise EdgekitError(f"--ssh evaluates an exported file (.onnx, .tflite, .xml), not {model}")
        from edgekit.runtimes.remote.device_eval import eval_over_ssh

        result = eval_over_ssh(ssh, path, data, size=size, key=ssh_key, runtime=runtime, threads=threads,
                               progress=show_progress())
        result["seconds"] = round(time.perf_counter() - t0, 2)
        if json_out:
            print_json(result)
            return
        emulated = f" (EMULATED: {result['emulated']})" if result.get("emulated") else ""
        console.print(f"[bold]{path}[/] on {result['runtime']} {result['runtime_version']} at {result['where']} "
                      f"({(result.get('host') or {}).get('machine', '?')}{emulated}): top-1 [bold]{result['top1']:.2f}%"
                      f"[/] ({result['correct1']}/{result['n']}), top-5 {result['top5']:.2f}%")
        return
    if path.suffix.lower() in MODEL_FILES or path.is_file():
        from edgekit.runtimes.base import open_runner

        runner = open_runner(path, runtime, threads=threads)
        card, card_from = card_for_file(path, runner)
        if input_size is not None:
            card = card.with_input_size(input_size)
        dataset = load_calibration_set(data, card, size=size, progress=show_progress())
        _need_labels(dataset, data)
        logits = _with_progress(lambda cb: runner_predict(runner, dataset.x, cb), len(dataset.x))
        where = {"runtime": runner.runtime, "file": str(path), "card_from": card_from, "threads": threads}
    else:
        from edgekit.analysis.accuracy import torch_predict
        from edgekit.models.source import load_model

        net, card = load_model(model, weights=weights, num_classes=num_classes, input_size=input_size,
                               input_shape=input_shape)
        dataset = load_calibration_set(data, card, size=size, progress=show_progress())
        _need_labels(dataset, data)
        logits = torch_predict(net, dataset.x)
        where = {"runtime": "pytorch", "model": card.name, "weights": weights}
    if logits.shape[1] <= int(dataset.labels.max()):
        raise EdgekitError(f"labels go up to {int(dataset.labels.max())} but the model has {logits.shape[1]} classes")
    acc = topk_accuracy(logits, dataset.labels)
    result = {**where, "data": data, **acc.to_dict(), "skipped_files": dataset.skipped,
              "seconds": round(time.perf_counter() - t0, 2)}
    if json_out:
        print_json(result)
        return
    name = where.get("file") or where.get("model")
    console.print(f"[bold]{name}[/] on {where['runtime']}: top-1 [bold]{acc.top1:.2f}%[/] ({acc.correct1}/{acc.n}), "
                  f"top-5 {acc.top5:.2f}%" + (f"  ({dataset.skipped} unreadable file(s) skipped)" if dataset.skipped else ""))


def _need_labels(dataset, data: str) -> None:
    if dataset.labels is None:
        raise EdgekitError(f"{data} has no labels: use class sub-folders, or an .npz with a 'y' array")


def _with_progress(fn, total: int):
    if not show_progress():
        return fn(None)
    from rich.progress import Progress

    from edgekit.cli.common import err_console

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("evaluating", total=total)
        return fn(lambda done: bar.update(task, completed=done))


def register(app: typer.Typer) -> None:
    app.command("eval", epilog=EXAMPLES)(eval_cmd)

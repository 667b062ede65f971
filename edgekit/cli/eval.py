"""`edgekit eval FILE_OR_MODEL --data DIR|file.npz`: top-1 / top-5 on labeled data, or a task's metrics.

An exported file (.onnx / .tflite / .xml) runs on its own runtime, preprocessed with the card from
its sidecar; a model source (zoo name, file.py:factory, with --weights) runs in PyTorch.
`--task detection-1d|moment-retrieval|dense` (or `--metric FILE.py:fn`) runs an exported file on an
.npz of model-ready inputs by name plus ground truth (docs/tasks.md) and scores all its outputs.
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

  edgekit eval detector.onnx --task detection-1d --data thumos_val.npz --json   # mAP@0.5, mAP@0.5:0.95

  edgekit eval grounding.onnx --task moment-retrieval --data charades_test.npz  # R@1/R@5 at IoU 0.5/0.7

  edgekit eval model.onnx --task dense --metric my_metric.py:score --data val.npz
"""

MODEL_FILES = (".onnx", ".tflite", ".xml")
TASK_FILES = MODEL_FILES + (".pte",)
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
    task: str = typer.Option(None, "--task", help="classification (top-1/top-5), detection-1d (mAP), "
                             "moment-retrieval (R@k), dense (ODS-F / mIoU); formats in docs/tasks.md. Default: the "
                             "task the file's card declares (the research-line zoo does), else classification."),
    metric: str = typer.Option(None, "--metric", metavar="FILE.py:fn", help="Your own metric: fn(outputs, ground_truth) "
                               "returning {name: number}; both arguments map array names to (N, ...) arrays."),
    json_out: bool = JsonOpt,
):
    """Top-1 / top-5 accuracy of an exported file on its runtime, or of a PyTorch model; --task for other tasks."""
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
    task = task or (_declared_task(path).get("name") if path.suffix.lower() in TASK_FILES else None) or "classification"
    if task != "classification" or metric:
        from edgekit.analysis.metrics import task_module

        module = task_module(task)  # an unknown task fails before anything loads
        if path.suffix.lower() not in TASK_FILES:
            raise EdgekitError(f"--task {task} evaluates an exported file (.onnx, .tflite, .xml, .pte), not {model}")
        _print_task(_eval_task(path, data, module, task, metric, runtime, threads, size,
                               remote=(ssh, ssh_key) if ssh else None), t0, json_out)
        return
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
        if len(runner.inputs()) > 1:  # not an image classifier: model-ready tensors by input name
            from edgekit.analysis.metrics import classification

            _print_task(_eval_task(path, data, classification, "classification", None, runtime, threads, size,
                                   runner=runner), t0, json_out)
            return
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


def _print_task(result: dict, t0: float, json_out: bool) -> None:
    import time

    result["seconds"] = round(time.perf_counter() - t0, 2)
    if json_out:
        print_json(result)
        return
    shown = ", ".join(f"{k} [bold]{v:.2f}[/]" if isinstance(v, float) else f"{k} {v}"
                      for k, v in result["metrics"].items())
    dev = result.get("device") or {}
    where = ""
    if dev:
        host = (dev.get("device") or {}).get("target", "?")
        where = f" {dev.get('runtime_version', '')} at {host}" + (f" (EMULATED: {dev['emulated']})" if dev.get("emulated") else "")
    console.print(f"[bold]{result['file']}[/] on {result['runtime']}{where} ({result['task']}, {result['n']} samples): {shown}")


def _eval_task(path: Path, data: str, module, task: str, metric: str | None, runtime: str, threads: int,
               size: int | None, runner=None, remote: tuple | None = None) -> dict:
    """Run the file over the task npz (here, or on the device `remote` = (user@host, key) names); the task's
    metric (or the user's) on all outputs by name, computed here."""
    import numpy as np

    from edgekit.analysis.metrics.task_data import load_npz, run_outputs, split_inputs
    from edgekit.runtimes.base import open_runner

    fn = None
    if metric:
        from edgekit.analysis.metrics.user_metric import load_metric, run_metric

        fn = load_metric(metric)
    runner = runner or open_runner(path, runtime, threads=threads)
    inputs, gt, n = split_inputs(load_npz(data), runner.inputs(), data)
    if fn is None:
        missing = [k for k in module.GROUND_TRUTH if k not in gt]
        if missing:
            raise EdgekitError(f"{data} has no {', '.join(missing)} for --task {task} (arrays: {', '.join(gt) or 'none'}; "
                               "see docs/tasks.md)")
    if size is not None and size < n:
        if fn is not None:
            raise EdgekitError("--size cannot subset the ground truth a --metric reads: write a smaller .npz")
        inputs, gt, n = [a[:size] for a in inputs], _first_samples(gt, task, size), size
    # the sidecar may name which model output plays which role ({"task": {"outputs": {"scores": "out0"}}})
    # and how raw heads become the task's outputs ({"task": {"decode": "proposals", ...}}: metrics/decode.py)
    declared = _declared_task(path)
    if declared.get("name") not in (None, task):
        declared = {k: v for k, v in declared.items() if k == "outputs"}  # decoding is for the declared task only
    device = None
    if remote is None:
        outputs = _with_progress(lambda cb: run_outputs(runner, inputs, n, cb), n)
    else:  # the device runs the file over every sample at once; metrics (and decoding) stay here
        from edgekit.analysis.metrics.task_data import device_outputs
        from edgekit.runtimes.remote.ssh import predict_over_ssh

        def predict(x):
            nonlocal device
            y, device = predict_over_ssh(remote[0], path, x, runtime=runtime, key=remote[1], threads=threads)
            return y

        outputs = device_outputs(predict, runner, inputs, n)
    for role, name in (declared.get("outputs") or {}).items():
        if name in outputs and role not in outputs:
            outputs[role] = outputs[name]
    if fn is None:
        from edgekit.analysis.metrics.decode import decode

        outputs = decode(outputs, declared)
    if fn is not None:
        metrics = run_metric(fn, metric, outputs, gt)
    else:
        options = {}
        if task == "moment-retrieval" and declared.get("moment_anchors") is not None:
            options["anchors"] = np.asarray(declared["moment_anchors"], np.float64)
        needed = [k for k in module.OUTPUTS if k not in outputs and not (len(outputs) == 1 and task in ("classification", "dense"))
                  and not (k == "moments" and "anchors" in options)]
        if needed:
            raise EdgekitError(f"{path} has no output {', '.join(needed)} for --task {task} (outputs: {', '.join(outputs)}): "
                               "name them at export, map them in the sidecar's task.outputs, or pass --metric FILE.py:fn")
        module.check(outputs, gt, n, **options)
        metrics = module.evaluate(outputs, gt, **options)
    return {"runtime": device["runtime"] if device else runner.runtime, "file": str(path), "task": task, "metric": metric or task, "data": data,
            "n": n, "threads": threads, "inputs": [s.name for s in runner.inputs()],
            "outputs": [s.name for s in runner.outputs()], "metrics": metrics,
            **({"where": "ssh", "device": {k: device.get(k) for k in ("runtime", "runtime_version", "host", "emulated",
                                                                      "device")}} if device else {"where": "local"})}


def _declared_task(path: Path) -> dict:
    """The file's task declaration: the sidecar's own `task` entry, else the one its card carries."""
    from edgekit.artifact import read_sidecar

    meta = read_sidecar(path)
    return meta.get("task") or ((meta.get("card") or {}).get("extra") or {}).get("task") or {}


def _first_samples(gt: dict, task: str, size: int) -> dict:
    """The ground truth of the first `size` samples (--size): per-sample arrays cut, segments by video."""
    import numpy as np

    if task == "detection-1d":
        keep = np.asarray(gt["gt_video"]).reshape(-1) < size
        return {**gt, **{k: np.asarray(gt[k])[keep] for k in ("gt_segments", "gt_labels", "gt_video")}}
    return {**gt, **{k: gt[k][:size] for k in ("y", "gt_moment", "gt_map") if k in gt}}


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

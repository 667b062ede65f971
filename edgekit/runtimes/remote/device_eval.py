"""Accuracy measured on a device: `edgekit eval FILE --data DIR --ssh user@host`.

The host preprocesses the labeled data with the card from the file's sidecar (as a local eval
does), turns each sample into what the runtime takes (layout from the sidecar, integer inputs
quantized with the stored scale and zero point), ships the batch to the device as .npz, runs it
there with the device's own runtime (device_bench.py --predict) and scores the returned outputs.
The device needs only python3, numpy and the runtime; nothing is left there afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError


def _spec(entry: dict):
    from edgekit.runtimes.base import TensorSpec

    q = entry.get("quantization")
    return TensorSpec(entry["name"], tuple(entry["shape"]), entry["dtype"], tuple(q) if q else None)


def eval_over_ssh(target: str, file, data: str, *, size: int | None = None, key: str | None = None,
                  runtime: str = "auto", threads: int = 1, python: str | None = None, known_hosts=None,
                  progress: bool = False) -> dict:
    """Top-1 / top-5 of `file` on the device's runtime: {runtime, runtime_version, top1, top5, n, ...,
    device, host, interpreter, emulated}."""
    from edgekit.analysis.accuracy import topk_accuracy
    from edgekit.analysis.parity import from_runner_output, is_channels_last, to_runner_input
    from edgekit.artifact import read_sidecar
    from edgekit.calibration import load_calibration_set
    from edgekit.models.card import Card
    from edgekit.runtimes.remote.ssh import predict_over_ssh

    path = Path(file)
    if not path.is_file():
        raise EdgekitError(f"model file not found: {path}")
    meta = read_sidecar(path)
    if not meta.get("card") or not meta.get("inputs") or not meta.get("outputs"):
        raise EdgekitError(f"eval over ssh needs {path.name}'s sidecar (card, inputs, outputs): export it with "
                           f"edgekit, or copy {path.name}.edgekit.json next to it")
    card = Card.from_dict(meta["card"])
    in_spec, out_spec = _spec(meta["inputs"][0]), _spec(meta["outputs"][0])
    dataset = load_calibration_set(data, card, size=size, progress=progress)
    if dataset.labels is None:
        raise EdgekitError(f"{data} has no labels: use class sub-folders, or an .npz with a 'y' array")
    nhwc = meta.get("layout") == "nhwc" or is_channels_last(in_spec, tuple(card.input_size))
    feeds = np.stack([to_runner_input(np.ascontiguousarray(x[None], dtype=np.float32), in_spec, nhwc)[0]
                      for x in dataset.x])
    y, report = predict_over_ssh(target, path, feeds, runtime, key, python=python, known_hosts=known_hosts,
                                 threads=threads)
    logits = np.stack([from_runner_output(v, out_spec) for v in y]).reshape(len(feeds), -1)
    if logits.shape[1] <= int(dataset.labels.max()):
        raise EdgekitError(f"labels go up to {int(dataset.labels.max())} but the model has {logits.shape[1]} classes")
    acc = topk_accuracy(logits, dataset.labels)
    return {"runtime": report.get("runtime"), "runtime_version": report.get("runtime_version"), "file": str(path),
            "card_from": "sidecar", "threads": threads, "where": f"ssh://{report['device']['target']}",
            "data": data, **acc.to_dict(), "skipped_files": dataset.skipped, "host": report.get("host"),
            "interpreter": report.get("interpreter"), "emulated": report.get("emulated"), "device": report["device"]}

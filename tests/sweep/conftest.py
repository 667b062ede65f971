"""Digits data (eval + calibration .npz) and the two tiny nets of nets.py trained on them, so the
sweep's accuracies are real (not ~10% chance); and a writer for sweep files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="session")
def sweep_data(tmp_path_factory):
    import torch

    spec = importlib.util.spec_from_file_location("train_digits_fixture", ROOT / "scripts" / "train_digits_fixture.py")
    digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits)
    sys.path.insert(0, str(HERE))
    import nets

    out = tmp_path_factory.mktemp("sweep_data")
    images, labels = digits.digit_images()
    train, test = digits.split(len(labels), seed=0)
    test = test[:150]  # eval: 150 held-out digits
    np.savez(out / "train.npz", x=images[train][:64], y=labels[train][:64])  # calibration
    np.savez(out / "test.npz", x=images[test], y=labels[test])
    x = torch.from_numpy(images[train].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels[train])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    weights = {}
    try:
        for name in ("narrow", "wide"):
            torch.manual_seed(0)
            model = getattr(nets, name)()
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            for _ in range(4):
                for idx in torch.randperm(len(y)).split(32):
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                    opt.step()
            torch.save(model.state_dict(), out / f"{name}.pth")
            weights[name] = out / f"{name}.pth"
    finally:
        torch.set_num_threads(threads)
    return {"dir": out, "calib": out / "train.npz", "eval": out / "test.npz", "weights": weights,
            "nets": HERE / "nets.py"}


def write_sweep(path: Path, data: dict, *, models, sizes=(32,), targets=("onnx",), precisions=("fp32",),
                threads=(1,), devices=None, runs=10, eval_data=True, extra="") -> Path:
    """A sweep file; `models` are names of nets.py factories (trained weights) or zoo names."""
    q = json.dumps
    lines = ["[grid]", f"models = {q(list(models))}", f"input_sizes = {q(list(sizes))}",
             f"targets = {q(list(targets))}", f"precisions = {q(list(precisions))}", f"threads = {q(list(threads))}", ""]
    for m in models:
        if m in ("narrow", "wide", "broken"):
            lines += [f"[models.{m}]", f"source = {q(str(data['nets']) + ':' + m)}"]
            if m in data["weights"]:
                lines.append(f"weights = {q(str(data['weights'][m]))}")
            lines.append("")
    if "int8" in precisions:
        lines += ["[int8]", f"calib = {q(str(data['calib']))}", "calib_size = 32", ""]
    if eval_data:
        lines += ["[eval]", f"data = {q(str(data['eval']))}", ""]
    lines += ["[bench]", f"runs = {runs}", "warmup = 2", "", "[export]", "verify = false", "parity_samples = 1", ""]
    for name, table in (devices or {}).items():
        lines += [f"[devices.{name}]"] + [f"{k} = {q(v)}" for k, v in table.items()] + [""]
    path.write_text("\n".join(lines) + extra)
    return path


def raw_keys(results_dir: Path) -> list[str]:
    """Every key in results.jsonl, duplicates included (the store's reader drops them)."""
    return [json.loads(line)["key"] for line in (results_dir / "results.jsonl").read_text().splitlines() if line.strip()]

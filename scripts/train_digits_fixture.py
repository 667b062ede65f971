"""Train a small MicroNet on scikit-learn's digits: the genuinely trained fixture for accuracy tests.

    python scripts/train_digits_fixture.py OUT_DIR [--epochs 15] [--seed 0]

Writes OUT_DIR/digits_m0.pth (a state_dict for `micronet-m0 --num-classes 10 --input-size 32`),
OUT_DIR/digits_train.npz (calibration pool) and OUT_DIR/digits_test.npz (held out), each with
x uint8 (N, 32, 32, 3) images and y int64 labels. The 8×8 digits (0..16) are scaled to 0..255,
upsampled to 32×32 and replicated to 3 channels; the network sees them through the card's own
preprocessing (edgekit.calibration.Preprocess), exactly as `edgekit eval` and calibration do.
Prints one JSON line: held-out top-1 and seconds. CPU, 1 thread, well under a minute.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

MODEL = "micronet-m0"
INPUT_SIZE = 32
NUM_CLASSES = 10


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as (N, 32, 32, 3) uint8 and their labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    small = np.clip(d.images * 16.0, 0, 255).astype(np.uint8)
    big = np.stack([np.asarray(Image.fromarray(im).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)) for im in small])
    return np.repeat(big[..., None], 3, axis=-1), d.target.astype(np.int64)


def split(n: int, seed: int, test_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(perm[k:]), np.sort(perm[:k])


def train(out_dir, epochs: int = 15, seed: int = 0, batch: int = 64) -> dict:
    import torch
    from torch import nn

    from edgekit.calibration import Preprocess
    from edgekit.models.source import load_model

    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = digit_images()
    tr, te = split(len(labels), seed)
    model, card = load_model(MODEL, num_classes=NUM_CLASSES, input_size=INPUT_SIZE)
    pre = Preprocess.from_card(card)
    x = torch.from_numpy(pre.uint8_batch(images, "nhwc"))
    y = torch.from_numpy(labels)
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=1e-4)
    steps = epochs * ((len(tr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr = x[tr], y[tr]
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(tr), generator=gen).split(batch):
            if len(idx) < 2:  # BatchNorm1d in the head needs two samples
                continue
            xb = xtr[idx]
            # small random translations: the digits are centred, the test ones too, but not exactly
            dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            opt.zero_grad()
            loss_fn(model(xb), ytr[idx]).backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        pred = model(x[te]).argmax(1)
    top1 = float((pred == y[te]).float().mean()) * 100.0
    torch.save(model.state_dict(), out / "digits_m0.pth")
    np.savez(out / "digits_train.npz", x=images[tr], y=labels[tr])
    np.savez(out / "digits_test.npz", x=images[te], y=labels[te])
    torch.set_num_threads(threads)
    return {"model": MODEL, "num_classes": NUM_CLASSES, "input_size": INPUT_SIZE, "weights": str(out / "digits_m0.pth"),
            "train": str(out / "digits_train.npz"), "test": str(out / "digits_test.npz"),
            "n_train": int(len(tr)), "n_test": int(len(te)), "test_top1": top1,
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(json.dumps(train(args.out_dir, epochs=args.epochs, seed=args.seed)))


if __name__ == "__main__":
    main()

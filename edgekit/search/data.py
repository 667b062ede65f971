"""Training data for the search and the recipe both the chosen network and its zoo baseline get.

`--data digits`: scikit-learn's 1797 digits, 8×8 scaled to 0..255, upsampled to 32×32, 3 channels
(as scripts/train_digits_fixture.py). Otherwise an image folder with class sub-folders or an .npz
with x and y, read by edgekit.calibration with the card's preprocessing, unchanged.
"""

from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError


def digit_images(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    small = np.clip(d.images * 16.0, 0, 255).astype(np.uint8)
    big = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in small])
    return np.repeat(big[..., None], 3, axis=-1), d.target.astype(np.int64)


def load_data(data: str, card, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 NCHW preprocessed by the card, y int64)."""
    from edgekit.calibration import Preprocess, load_calibration_set

    if data == "digits":
        images, labels = digit_images(card.input_size[-1])
        x = Preprocess.from_card(card).uint8_batch(images, "nhwc")
        return x.astype(np.float32), labels
    ds = load_calibration_set(data, card, size=size, progress=False)
    if ds.labels is None:
        raise EdgekitError(f"--data {data} has no labels: use class sub-folders, or an .npz with a 'y' array")
    return np.asarray(ds.x, dtype=np.float32), np.asarray(ds.labels, dtype=np.int64)


def split(n: int, seed: int = 0, test_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(perm[k:]), np.sort(perm[:k])


def class_order(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Classes easiest first: per-class accuracy of a nearest-centroid classifier on the training
    data (DA-NAS trains on easy classes first); ties by class index."""
    flat = x.reshape(len(x), -1)
    classes = sorted(set(int(c) for c in y))
    centroids = np.stack([flat[y == c].mean(0) for c in classes])
    d = ((flat[:, None, :] - centroids[None]) ** 2).sum(-1)
    pred = np.asarray(classes)[d.argmin(1)]
    acc = {c: float((pred[y == c] == c).mean()) for c in classes}
    return sorted(classes, key=lambda c: (-acc[c], c))


def train(model, x, y, epochs: int, seed: int = 0, batch: int = 64, lr: float = 4e-3, log=None) -> None:
    """The recipe (scripts/train_digits_fixture.py's): AdamW, one-cycle, label smoothing, ±2 px shifts."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = max(1, epochs * ((len(yt) + batch - 1) // batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(yt), generator=gen).split(batch):
            if len(idx) < 2:
                continue
            dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
            xb = torch.roll(xt[idx], shifts=(dy, dx), dims=(2, 3))
            opt.zero_grad()
            loss_fn(model(xb), yt[idx]).backward()
            opt.step()
            sched.step()
    model.eval()


def accuracy(model, x, y, classes=None) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(x[i:i + 256])) for i in range(0, len(x), 256)])
        if classes is not None:
            mask = torch.full((logits.shape[1],), float("-inf"))
            mask[list(classes)] = 0.0
            logits = logits + mask
        return 100.0 * float((logits.argmax(1).numpy() == y).mean())


def recalibrate_bn(model, x, batch: int = 128) -> None:
    """BatchNorm running statistics recomputed from `x` with the current weights (cumulative average):
    after a short stage of fast-moving weights the running averages lag behind them, and the supernet
    evaluated in eval mode would score near chance while it classifies in train mode."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(torch.from_numpy(x[i:i + batch]))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()

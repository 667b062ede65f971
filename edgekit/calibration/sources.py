"""Calibration sources: an image folder, .npy/.npz arrays, or synthetic noise.

Each source yields an unsampled pool; `edgekit.calibration.load_calibration` samples it
deterministically and preprocesses it with the card's `Preprocess`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_X_KEYS = ("x", "images", "data", "inputs", "arr_0")
_Y_KEYS = ("y", "labels", "label", "targets")


@dataclass
class CalibrationSet:
    x: np.ndarray  # (N, C, H, W) float32, preprocessed
    labels: np.ndarray | None  # (N,) int64 or None
    source: str
    skipped: int = 0  # unreadable / non-image files passed over
    class_names: list[str] = field(default_factory=list)
    synthetic: bool = False


def list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str], int]:
    """Every file under `root` (recursive): image paths, labels from class sub-folders, names, non-images."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    others = len(files) - len(images)
    classes = sorted({p.relative_to(root).parts[0] for p in images if len(p.relative_to(root).parts) > 1})
    labelled = bool(images) and all(len(p.relative_to(root).parts) > 1 for p in images)
    if not labelled:
        return images, None, [], others
    index = {c: i for i, c in enumerate(classes)}
    return images, [index[p.relative_to(root).parts[0]] for p in images], classes, others


def from_folder(root: Path, pre, size: int | None, rng: np.random.Generator, progress: bool) -> CalibrationSet:
    from PIL import Image, UnidentifiedImageError

    if pre.frames is not None:
        raise EdgekitError(f"{root}: a video model calibrates on clips: give a .npy/.npz of N,T,H,W,C uint8 frames "
                           "or N,C,T,H,W preprocessed float clips")
    paths, labels, classes, skipped = list_images(root)
    if not paths and not skipped:
        raise EdgekitError(f"calibration folder {root} is empty; put .jpg/.png/.bmp/.webp images in it (class sub-folders give labels)")
    order = rng.permutation(len(paths))
    want = len(paths) if size is None else min(size, len(paths))
    xs, ys = [], []
    bar = _progress(progress, want, f"reading {root.name}/")
    try:
        for i in order:
            if len(xs) == want:
                break
            try:
                with Image.open(paths[i]) as img:
                    xs.append(pre.image(img))
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
                skipped += 1
                continue
            if labels is not None:
                ys.append(labels[i])
            bar.advance()
    finally:
        bar.close()
    if not xs:
        raise EdgekitError(f"no readable image in {root} ({skipped} file(s) skipped as unreadable or not images)")
    y = np.asarray(ys, np.int64) if labels is not None else None
    return CalibrationSet(np.stack(xs), y, str(root), skipped=skipped, class_names=classes)


def _pick(arrays, keys, what: str, required: bool):
    for k in keys:
        if k in arrays:
            return arrays[k]
    if required:
        raise EdgekitError(f"no {what} array in the file (expected one of: {', '.join(keys[:-1])})")
    return None


def from_arrays(path: Path, pre, size: int | None, rng: np.random.Generator) -> CalibrationSet:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise EdgekitError(f"{path} is not a readable .npy/.npz file ({type(exc).__name__})") from None
    if isinstance(loaded, np.ndarray):
        x, y = loaded, None
    else:
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
        if len(arrays) == 1:
            x, y = next(iter(arrays.values())), None
        else:
            x, y = _pick(arrays, _X_KEYS, "image ('x')", True), _pick(arrays, _Y_KEYS, "label", False)
    if pre.frames is not None and x.ndim != 5:
        raise EdgekitError(f"{path}: clips must be 5-D (N,C,T,H,W float or N,T,H,W,C uint8), got shape {tuple(x.shape)}")
    if pre.frames is None and x.ndim != 4:
        raise EdgekitError(f"{path}: images must be 4-D (N,C,H,W float or N,H,W,C uint8), got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise EdgekitError(f"{path} holds no samples")
    if y is not None:
        y = np.asarray(y).reshape(-1).astype(np.int64)
        if len(y) != len(x):
            raise EdgekitError(f"{path}: {len(x)} images but {len(y)} labels")
    idx = np.arange(len(x)) if size is None or size >= len(x) else np.sort(rng.choice(len(x), size, replace=False))
    x = x[idx]
    y = y[idx] if y is not None else None
    c = pre.channels
    if pre.frames is not None:
        return CalibrationSet(np.ascontiguousarray(_clips(path, x, pre)), y, str(path))
    if x.dtype == np.uint8:
        if x.shape[-1] == c:
            xf = pre.uint8_batch(x, "nhwc")
        elif x.shape[1] == c:
            xf = pre.uint8_batch(x, "nchw")
        else:
            raise EdgekitError(f"{path}: uint8 images of shape {tuple(x.shape[1:])} have no axis of {c} channels "
                               f"(expected N,H,W,{c} or N,{c},H,W)")
    elif np.issubdtype(x.dtype, np.floating):
        want = (c, *pre.size)
        if tuple(x.shape[1:]) != want:
            hint = " (float arrays must be preprocessed N,C,H,W; give uint8 images to have them preprocessed)"
            raise EdgekitError(f"{path}: float inputs of shape {tuple(x.shape[1:])}, the model takes {want}{hint}")
        xf = x.astype(np.float32)
    else:
        raise EdgekitError(f"{path}: images of dtype {x.dtype}; expected float32 (preprocessed) or uint8")
    return CalibrationSet(np.ascontiguousarray(xf), y, str(path))


def _clips(path: Path, x: np.ndarray, pre) -> np.ndarray:
    """Video clips → (N, C, T, H, W) float32: float clips already preprocessed, or uint8 frames
    (N, T, H, W, C) / (N, C, T, H, W) preprocessed frame by frame."""
    c, t = pre.channels, pre.frames
    if x.dtype == np.uint8:
        if x.shape[-1] == c and x.shape[1] == t:
            return pre.uint8_clips(x, "nthwc")
        if x.shape[1] == c and x.shape[2] == t:
            return pre.uint8_clips(x, "ncthw")
        raise EdgekitError(f"{path}: uint8 clips of shape {tuple(x.shape[1:])} are not {t} frames of {c} channels "
                           f"(expected N,{t},H,W,{c} or N,{c},{t},H,W)")
    if np.issubdtype(x.dtype, np.floating):
        want = (c, t, *pre.size)
        if tuple(x.shape[1:]) != want:
            raise EdgekitError(f"{path}: float clips of shape {tuple(x.shape[1:])}, the model takes {want} (float clips "
                               "must be preprocessed N,C,T,H,W; give uint8 frames to have them preprocessed)")
        return x.astype(np.float32)
    raise EdgekitError(f"{path}: clips of dtype {x.dtype}; expected float32 (preprocessed) or uint8")


def synthetic(pre, size: int | None, seed: int) -> CalibrationSet:
    sys.stderr.write("warning: SYNTHETIC calibration data (random pixels): INT8 ranges will not match real images "
                     "and accuracy is meaningless; pass --calib DIR|file.npz for real use\n")
    rng = np.random.default_rng(seed)
    n = size or 32
    if pre.frames is not None:
        clips = rng.integers(0, 256, size=(n, pre.frames, *pre.size, pre.channels), dtype=np.uint8)
        return CalibrationSet(pre.uint8_clips(clips, "nthwc"), None, "synthetic", synthetic=True)
    images = rng.integers(0, 256, size=(n, *pre.size, pre.channels), dtype=np.uint8)
    return CalibrationSet(pre.uint8_batch(images, "nhwc"), None, "synthetic", synthetic=True)


class _NoBar:
    def advance(self):
        pass

    def close(self):
        pass


class _RichBar:
    def __init__(self, total: int, label: str):
        from rich.console import Console
        from rich.progress import Progress

        self.progress = Progress(console=Console(stderr=True), transient=True)
        self.progress.start()
        self.task = self.progress.add_task(label, total=total)

    def advance(self):
        self.progress.advance(self.task)

    def close(self):
        self.progress.stop()


def _progress(enabled: bool, total: int, label: str):
    return _RichBar(total, label) if enabled else _NoBar()

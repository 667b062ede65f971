"""Preprocessing from the model card: resize the shorter side → centre crop → scale → mean/std.

One definition used by calibration, eval and the digits fixture, so the numbers a model sees at
calibration time are exactly those it sees at evaluation time. numpy + Pillow only (no torch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError

_RESAMPLE = {"bilinear": 2, "bicubic": 3, "nearest": 0, "lanczos": 1}  # PIL.Image.Resampling values


@dataclass(frozen=True)
class Preprocess:
    channels: int
    size: tuple[int, int]  # H, W of the model input (the crop)
    resize: int  # shorter side before the centre crop
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    frames: int | None = None  # clip length T of a video model (input C, T, H, W); None for images

    @classmethod
    def from_card(cls, card, **overrides) -> "Preprocess":
        c, h, w = card.input_size[0], *card.input_size[-2:]
        frames = int(card.input_size[1]) if len(card.input_size) == 4 else None
        crop = card.crop or h
        resize = card.resize or crop
        if (h, w) != (crop, crop):  # a non-square input: crop to the input, scale resize along
            resize = int(round(min(h, w) * resize / crop))
        pre = cls(channels=c, size=(h, w), resize=resize, mean=tuple(card.mean), std=tuple(card.std),
                  interpolation=card.interpolation, frames=frames)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(pre, **overrides) if overrides else pre

    def _norm(self, chw: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean, np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(-1, 1, 1)
        return ((chw.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)

    def image(self, img) -> np.ndarray:
        """A PIL image → (C, H, W) float32."""
        mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(self.channels)
        if mode is None:
            raise EdgekitError(f"cannot read images for a {self.channels}-channel model; give preprocessed .npy/.npz")
        img = img.convert(mode)
        h, w = self.size
        iw, ih = img.size
        scale = self.resize / min(iw, ih)
        nw, nh = max(w, int(round(iw * scale))), max(h, int(round(ih * scale)))
        if (nw, nh) != (iw, ih):
            img = img.resize((nw, nh), _RESAMPLE.get(self.interpolation, 2))
        left, top = (nw - w) // 2, (nh - h) // 2
        img = img.crop((left, top, left + w, top + h))
        arr = np.asarray(img, dtype=np.uint8)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return self._norm(arr.transpose(2, 0, 1))

    def uint8_clips(self, clips: np.ndarray, layout: str = "nthwc") -> np.ndarray:
        """(N, T, H, W, C) or (N, C, T, H, W) uint8 clips → (N, C, T, H, W) float32, frame by frame."""
        if layout == "ncthw":
            clips = clips.transpose(0, 2, 3, 4, 1)
        n, t = clips.shape[:2]
        frames = self.uint8_batch(clips.reshape(n * t, *clips.shape[2:]), "nhwc")
        return np.ascontiguousarray(frames.reshape(n, t, *frames.shape[1:]).transpose(0, 2, 1, 3, 4))

    def uint8_batch(self, images: np.ndarray, layout: str = "nhwc") -> np.ndarray:
        """(N, H, W, C) or (N, C, H, W) uint8 images → (N, C, H, W) float32 preprocessed."""
        from PIL import Image

        if layout == "nchw":
            images = images.transpose(0, 2, 3, 1)
        if images.shape[-1] != self.channels:
            raise EdgekitError(f"images have {images.shape[-1]} channels, the model takes {self.channels}")
        h, w = self.size
        if images.shape[1:3] == (h, w) and self.resize == min(h, w):  # nothing to resize or crop
            return np.stack([self._norm(im.transpose(2, 0, 1)) for im in images])
        out = []
        for im in images:
            pil = Image.fromarray(im[:, :, 0] if self.channels == 1 else im)
            out.append(self.image(pil))
        return np.stack(out).astype(np.float32)

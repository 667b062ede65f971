"""Models with several inputs and outputs, written the way users write them (not edgekit's classes).

Importable by tests and loadable as `tests/exporters/multi_io_models.py:FACTORY` model sources.
"""

import torch
import torch.nn.functional as F
from torch import nn


class Detector(nn.Module):
    """A detector-style head pair: forward(x) -> (class_map, box_map)."""

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.cls = nn.Conv2d(32, num_classes, 1)
        self.box = nn.Conv2d(32, 4, 1)

    def forward(self, x):
        f = self.body(x)
        return self.cls(f), self.box(f)


class Refine(nn.Module):
    """Motion-boundary style: images, forward/backward flows and their warping errors -> a dict."""

    def __init__(self):
        super().__init__()
        self.img = nn.Conv2d(6, 8, 3, padding=1)
        self.flow = nn.Conv2d(4, 8, 3, padding=1)
        self.err = nn.Conv2d(2, 8, 3, padding=1)
        self.boundary = nn.Conv2d(24, 1, 3, padding=1)
        self.fuse = nn.Conv2d(24 + 1, 2, 3, padding=1)

    def forward(self, image0, image1, flow_fw, flow_bw, warp_error):
        m = torch.cat([F.relu(self.img(torch.cat([image0, image1], 1))),
                       F.relu(self.flow(torch.cat([flow_fw, flow_bw], 1))),
                       F.relu(self.err(warp_error))], 1)
        b = torch.sigmoid(self.boundary(m))
        return {"boundary": b, "flow": flow_fw + self.fuse(torch.cat([m, b], 1))}


class Retrieval(nn.Module):
    """Moment retrieval style: video features (C, T) and a text query of int64 token ids."""

    def __init__(self, vocab: int = 100):
        super().__init__()
        self.emb = nn.Embedding(vocab, 16)
        self.video = nn.Conv1d(32, 16, 3, padding=1)
        self.span = nn.Conv1d(16, 2, 1)

    def forward(self, video, tokens):
        q = self.emb(tokens).mean(1)  # (N, 16)
        v = F.relu(self.video(video))  # (N, 16, T)
        scores = torch.einsum("nct,nc->nt", v, q)
        return scores, self.span(v * q[:, :, None])


def detector(num_classes: int = 5):
    return Detector(num_classes)


def refine():
    return Refine()


def retrieval():
    return Retrieval()

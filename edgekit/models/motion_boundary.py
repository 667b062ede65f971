"""Motion boundary detection of the research line, at edge size: MoBoNet.

- `mobonet-small` — motion boundary detection and flow refinement (the MoBoNet abstract): a refinement
  network takes *the source images, initial forward and backward optical flows and their warping errors*
  (`image0`, `image1` 3x96x96; `flow_fw`, `flow_bw` 2x96x96 in pixels; `error_fw`, `error_bw` 1x96x96) and
  produces high-resolution motion boundaries (`boundary`, 1x96x96 logits: an encoder to 1/4 resolution and a
  decoder back with transposed convolutions and skip connections); a fusion sub-network uses the boundaries
  to refine the flows (artifact removal: `flow_fw_refined`, `flow_bw_refined`, residuals added to the
  inputs, 2x96x96 each).
No published weights at this size: random weights with BatchNorm statistics from data; `--weights` for yours.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.card import Card
from edgekit.models.io_spec import InputSpec, OutputSpec
from edgekit.models.registry import register_model

SIZE = 96


def cbr(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class MoBoNetSmall(nn.Module):
    def __init__(self, c: int = 16):
        super().__init__()
        self.enc1 = cbr(3 + 3 + 2 + 2 + 1 + 1, c)
        self.enc2 = cbr(c, 2 * c, 2)
        self.enc3 = cbr(2 * c, 4 * c, 2)
        self.up2 = nn.Sequential(nn.ConvTranspose2d(4 * c, 2 * c, 2, 2), nn.ReLU())
        self.dec2 = cbr(4 * c, 2 * c)
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 2, 2), nn.ReLU())
        self.dec1 = cbr(2 * c, c)
        self.boundary = nn.Conv2d(c, 1, 3, padding=1)
        self.fusion = nn.Sequential(cbr(c + 1 + 4, c), nn.Conv2d(c, 4, 3, padding=1))

    def encode_inputs(self, image0, image1, flow_fw, flow_bw, error_fw, error_bw):
        """The first encoder stage over the six inputs stacked (a variant may read them another way)."""
        return self.enc1(torch.cat([image0, image1, flow_fw, flow_bw, error_fw, error_bw], 1))

    def forward(self, image0, image1, flow_fw, flow_bw, error_fw, error_bw):
        e1 = self.encode_inputs(image0, image1, flow_fw, flow_bw, error_fw, error_bw)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self.up2(e3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        b = self.boundary(d1)
        flows = torch.cat([flow_fw, flow_bw], 1)
        residual = self.fusion(torch.cat([d1, torch.sigmoid(b), flows], 1))
        refined = flows + residual
        return b, refined[:, :2], refined[:, 2:]


def _img(name):
    return InputSpec(name, (3, SIZE, SIZE), layout="CHW", kind="image", preprocessing="card")


@register_model(Card(
    name="mobonet-small", family="motion_boundary", input_size=(3, SIZE, SIZE), num_classes=1, crop=SIZE,
    resize=SIZE, paper="Motion boundary detection and flow refinement from images, initial flows and warping "
                       "errors (MoBoNet)",
    description="images + forward/backward flows + warping errors -> encoder-decoder (transposed convs, skips) -> "
                "motion boundaries; fusion sub-network refines both flows",
    inputs=(_img("image0"), _img("image1"),
            InputSpec("flow_fw", (2, SIZE, SIZE), layout="CHW", kind="flow", preprocessing="optical flow in pixels"),
            InputSpec("flow_bw", (2, SIZE, SIZE), layout="CHW", kind="flow", preprocessing="optical flow in pixels"),
            InputSpec("error_fw", (1, SIZE, SIZE), layout="CHW", kind="tensor",
                      preprocessing="warping error of the forward flow (photometric, >= 0)"),
            InputSpec("error_bw", (1, SIZE, SIZE), layout="CHW", kind="tensor",
                      preprocessing="warping error of the backward flow (photometric, >= 0)")),
    outputs=(OutputSpec("boundary", "dense", "motion boundary logits, full resolution"),
             OutputSpec("flow_fw_refined", "dense", "refined forward flow (pixels)"),
             OutputSpec("flow_bw_refined", "dense", "refined backward flow (pixels)")),
    extra={"published_weights": "none at this size: random weights, BatchNorm statistics from data; --weights for "
                      "your own",
           "task": {"name": "dense", "decode": "sigmoid_map", "source": "boundary"}}))
def mobonet_small(num_classes: int = 1) -> nn.Module:
    return MoBoNetSmall()

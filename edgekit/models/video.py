"""Video networks: a C3D-style Conv3D classifier, a TAN-style (2+1)-D network, an S3D-style detector backbone.

Inputs are clips (N, C, T, H, W), N = 1 at export. No published weights exist for these sizes; the
zoo gives them random weights with BatchNorm statistics from data (like the image zoo), and
`--weights` loads a user's checkpoint by key.

- `c3d-small`: three 3×3×3 Conv3D + ReLU with a spatial and a spatio-temporal MaxPool3D between them,
  global average pool, linear. Widths 16/32/64 put it at 650,287,424 multiply-adds at 8×112×112 —
  the ~650 M the issue measured stock runtimes on.
- `tan-small`: Temporal Aggregation Network style (Dai et al.): spatial 1×3×3 convolutions
  alternating with temporal aggregation blocks, each a residual 3×1×1 temporal convolution with
  growing dilation (1, 2, 4) for long-range context, a temporal max pool halving the clip.
- `s3d-small`: a single-shot temporal detection backbone in the spirit of S3D: Conv3D end to end
  (a temporal stride and a temporally dilated layer), spatial average per time step, and a 1×1×1
  head giving, per output time step and per anchor span, class scores plus (centre, length)
  offsets: output (1, spans·(classes + 2), T').
"""

from __future__ import annotations

from torch import nn

from edgekit.models.card import Card
from edgekit.models.registry import register_model

# torchvision's video classification normalisation (Kinetics-400 statistics)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
C3D_SMALL_MADDS = 650_287_424  # conv + linear multiply-adds at 3×8×112×112, 101 classes


def _video_card(name: str, clip: int, size: int, num_classes: int, madds: int | None, description: str,
                **extra) -> Card:
    return Card(name=name, family="video", input_size=(3, clip, size, size), num_classes=num_classes,
                mean=KINETICS_MEAN, std=KINETICS_STD, resize=int(round(size * 128 / 112)), crop=size,
                madds_target=madds, description=description,
                extra={"layout": "NCTHW", "clip_length": clip,
                       "preprocessing": f"{clip} consecutive frames, shorter side resized to "
                                        f"{int(round(size * 128 / 112))}, centre crop {size}, /255, Kinetics mean/std",
                       **extra})


def conv_bn_relu(cin: int, cout: int, kernel, stride=1, padding=0, dilation=1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, stride, padding, dilation, groups, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class C3DSmall(nn.Module):
    def __init__(self, num_classes: int = 101, widths=(16, 32, 64)):
        super().__init__()
        c1, c2, c3 = widths
        self.features = nn.Sequential(
            nn.Conv3d(3, c1, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(c1, c2, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool3d(2),
            nn.Conv3d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.classifier = nn.Linear(c3, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class TemporalAggregation(nn.Module):
    """x + BN(temporal conv k_t×1×1, dilation d) → ReLU: temporal context at growing range."""

    def __init__(self, channels: int, dilation: int, kernel: int = 3):
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.temporal = nn.Sequential(
            nn.Conv3d(channels, channels, (kernel, 1, 1), padding=(pad, 0, 0), dilation=(dilation, 1, 1), bias=False),
            nn.BatchNorm3d(channels))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(x + self.temporal(x))


class TANSmall(nn.Module):
    def __init__(self, num_classes: int = 101, widths=(24, 48, 96, 192), dilations=(1, 2, 4)):
        super().__init__()
        c0, c1, c2, c3 = widths
        self.features = nn.Sequential(
            conv_bn_relu(3, c0, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            conv_bn_relu(c0, c1, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            TemporalAggregation(c1, dilations[0]),
            nn.MaxPool3d((2, 1, 1)),
            conv_bn_relu(c1, c2, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            TemporalAggregation(c2, dilations[1]),
            conv_bn_relu(c2, c3, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            TemporalAggregation(c3, dilations[2]),
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.classifier = nn.Linear(c3, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class S3DSmall(nn.Module):
    def __init__(self, num_classes: int = 20, spans: int = 3, widths=(16, 32, 64)):
        super().__init__()
        c1, c2, c3 = widths
        self.features = nn.Sequential(
            conv_bn_relu(3, c1, 3, (1, 2, 2), 1),
            conv_bn_relu(c1, c2, 3, (2, 2, 2), 1),  # temporal stride 2
            conv_bn_relu(c2, c3, 3, (1, 2, 2), 1),
            conv_bn_relu(c3, c3, 3, 1, (2, 1, 1), dilation=(2, 1, 1)),  # temporally dilated
        )
        self.pool = nn.AdaptiveAvgPool3d((None, 1, 1))  # average over space, per time step
        self.head = nn.Conv3d(c3, spans * (num_classes + 2), 1)

    def forward(self, x):
        return self.head(self.pool(self.features(x))).flatten(2)


@register_model(_video_card("c3d-small", 8, 112, 101, C3D_SMALL_MADDS,
                            "C3D-style classifier: three 3x3x3 Conv3D + ReLU, MaxPool3D, global pool, linear"))
def c3d_small(num_classes: int = 101) -> nn.Module:
    return C3DSmall(num_classes)


@register_model(_video_card("tan-small", 16, 112, 101, None,
                            "TAN-style: spatial 1x3x3 convs + residual dilated 3x1x1 temporal aggregation blocks"))
def tan_small(num_classes: int = 101) -> nn.Module:
    return TANSmall(num_classes)


@register_model(_video_card("s3d-small", 16, 112, 20, None,
                            "S3D-style temporal detection backbone: Conv3D end to end, per-time-step "
                            "scores for 3 anchor spans (classes + centre/length)", spans=3))
def s3d_small(num_classes: int = 20) -> nn.Module:
    return S3DSmall(num_classes)

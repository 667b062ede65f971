"""MicroNet (Li et al., ICCV 2021): Micro-Factorized convolution + Dynamic Shift-Max.

Built to match the public reference release module for module, so that its published
checkpoints (keys like `features.3.layers.5.fc.2.weight`) load as they are: the nn.Sequential
indices, including the empty placeholder entries, are part of the checkpoint format.
Configuration rows and the subtleties that break naive re-implementations are documented in
shared/FACTS.md; the ones that matter are restated where they are implemented.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgekit.models.card import Card
from edgekit.models.layers import ChannelShuffle, HSigmoid, HSwish, make_divisible
from edgekit.models.registry import register_model

# Row: stride, repeats, out, kernel, c1, c2, g1, g2, c3, g3, g4, y1, y2, y3, reduction-ratio
MICRONET_CONFIGS: dict[str, list[tuple[int, ...]]] = {
    "m0": [
        (2, 1, 8, 3, 2, 2, 0, 4, 8, 2, 2, 2, 0, 1, 1),
        (2, 1, 12, 3, 2, 2, 0, 8, 12, 4, 4, 2, 2, 1, 1),
        (2, 1, 16, 5, 2, 2, 0, 12, 16, 4, 4, 2, 2, 1, 1),
        (1, 1, 32, 5, 1, 4, 4, 4, 32, 4, 4, 2, 2, 1, 1),
        (2, 1, 64, 5, 1, 4, 8, 8, 64, 8, 8, 2, 2, 1, 1),
        (1, 1, 96, 3, 1, 4, 8, 8, 96, 8, 8, 2, 2, 1, 2),
        (1, 1, 384, 3, 1, 4, 12, 12, 0, 0, 0, 2, 2, 1, 2),
    ],
    "m1": [
        (2, 1, 8, 3, 2, 2, 0, 6, 8, 2, 2, 2, 0, 1, 1),
        (2, 1, 16, 3, 2, 2, 0, 8, 16, 4, 4, 2, 2, 1, 1),
        (2, 1, 16, 5, 2, 2, 0, 16, 16, 4, 4, 2, 2, 1, 1),
        (1, 1, 32, 5, 1, 6, 4, 4, 32, 4, 4, 2, 2, 1, 1),
        (2, 1, 64, 5, 1, 6, 8, 8, 64, 8, 8, 2, 2, 1, 1),
        (1, 1, 96, 3, 1, 6, 8, 8, 96, 8, 8, 2, 2, 1, 2),
        (1, 1, 576, 3, 1, 6, 12, 12, 0, 0, 0, 2, 2, 1, 2),
    ],
    "m2": [
        (2, 1, 12, 3, 2, 2, 0, 8, 12, 4, 4, 2, 0, 1, 1),
        (2, 1, 16, 3, 2, 2, 0, 12, 16, 4, 4, 2, 2, 1, 1),
        (1, 1, 24, 3, 2, 2, 0, 16, 24, 4, 4, 2, 2, 1, 1),
        (2, 1, 32, 5, 1, 6, 6, 6, 32, 4, 4, 2, 2, 1, 1),
        (1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 2, 2, 1, 2),
        (1, 1, 64, 5, 1, 6, 8, 8, 64, 8, 8, 2, 2, 1, 2),
        (2, 1, 96, 5, 1, 6, 8, 8, 96, 8, 8, 2, 2, 1, 2),
        (1, 1, 128, 3, 1, 6, 12, 12, 128, 8, 8, 2, 2, 1, 2),
        (1, 1, 768, 3, 1, 6, 16, 16, 0, 0, 0, 2, 2, 1, 2),
    ],
    "m3": [
        (2, 1, 16, 3, 2, 2, 0, 12, 16, 4, 4, 0, 2, 0, 1),
        (2, 1, 24, 3, 2, 2, 0, 16, 24, 4, 4, 0, 2, 0, 1),
        (1, 1, 24, 3, 2, 2, 0, 24, 24, 4, 4, 0, 2, 0, 1),
        (2, 1, 32, 5, 1, 6, 6, 6, 32, 4, 4, 0, 2, 0, 1),
        (1, 1, 32, 5, 1, 6, 8, 8, 32, 4, 4, 0, 2, 0, 2),
        (1, 1, 64, 5, 1, 6, 8, 8, 48, 8, 8, 0, 2, 0, 2),
        (1, 1, 80, 5, 1, 6, 8, 8, 80, 8, 8, 0, 2, 0, 2),
        (1, 1, 80, 5, 1, 6, 10, 10, 80, 8, 8, 0, 2, 0, 2),
        (2, 1, 120, 5, 1, 6, 10, 10, 120, 10, 10, 0, 2, 0, 2),
        (1, 1, 120, 5, 1, 6, 12, 12, 120, 10, 10, 0, 2, 0, 2),
        (1, 1, 144, 3, 1, 6, 12, 12, 144, 12, 12, 0, 2, 0, 2),
        (1, 1, 864, 3, 1, 6, 12, 12, 0, 0, 0, 0, 2, 0, 2),
    ],
}


@dataclass(frozen=True)
class MicroNetSpec:
    config: str
    stem_ch: int
    stem_groups: tuple[int, int]
    out_ch: int
    dropout: float
    init_a: tuple[float, float] = (1.0, 1.0)
    init_b: tuple[float, float] = (0.0, 0.0)
    init_ab3: tuple[float, float] = (1.0, 0.0)  # INIT_A_BLOCK3: (a, b) of the K=1 Shift-Max after a block
    act_max: float = 2.0
    reduction: int = 8


SPECS = {
    "m0": MicroNetSpec("m0", 4, (2, 2), 640, 0.05),
    "m1": MicroNetSpec("m1", 6, (3, 2), 960, 0.05),
    "m2": MicroNetSpec("m2", 8, (4, 2), 1024, 0.1),
    "m3": MicroNetSpec("m3", 12, (4, 3), 1024, 0.1, init_a=(1.0, 0.5), init_b=(0.0, 0.5)),
}


def shift_index(channels: int, groups: int) -> torch.Tensor:
    """Two-level circular channel shift of Dynamic Shift-Max.

    Output channel g*gc + c reads input channel ((g+1) mod G)*gc + (c+1) mod gc: the shift rotates
    by one group AND by one channel inside the group (gc = channels / G).
    """
    gc = channels // groups
    g = torch.arange(groups).repeat_interleave(gc)
    c = torch.arange(gc).repeat(groups)
    return ((g + 1) % groups) * gc + (c + 1) % gc


class DynamicShiftMax(nn.Module):
    """Dynamic Shift-Max: y = max_k(a_k(x)·x + b_k(x)·x̃), x̃ the two-level channel shift of x.

    The hyper-function is avgpool → Linear → ReLU → Linear → h_sigmoid, mapped to
    (y − 0.5)·2·act_max; coefficients split as a1, b1, a2, b2 and offset by init_a / init_b.
    K=2 (max of two) when the layer also plays the role of the ReLU; K=1 otherwise.
    """

    def __init__(self, channels: int, reduction: int, groups: int, k: int = 2, act_max: float = 2.0,
                 init_a=(1.0, 0.0), init_b=(0.0, 0.0)):
        super().__init__()
        self.channels = channels
        self.k = k
        self.scale = act_max * 2.0
        self.groups = groups
        self.init_a = tuple(float(v) for v in init_a)
        self.init_b = tuple(float(v) for v in init_b)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        squeeze = max(4, make_divisible(channels // reduction, 4))
        self.fc = nn.Sequential(
            nn.Linear(channels, squeeze),
            nn.ReLU(inplace=True),
            nn.Linear(squeeze, channels * 2 * k),
            HSigmoid(),
        )
        # Not in the state_dict: the reference keeps it as a plain attribute.
        self.register_buffer("index", shift_index(channels, groups), persistent=False)

    def coefficients(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[a1, b1(, a2, b2)], each (B, C, 1, 1), offsets included."""
        b, c = x.shape[:2]
        y = self.fc(self.avg_pool(x).view(b, c)).view(b, -1, 1, 1)
        y = (y - 0.5) * self.scale
        parts = list(torch.split(y, self.channels, dim=1))
        offsets = [self.init_a[0], self.init_b[0], self.init_a[1], self.init_b[1]][: 2 * self.k]
        return [p + o for p, o in zip(parts, offsets)]

    def forward(self, x):
        shifted = x[:, self.index]
        coef = self.coefficients(x)
        out = x * coef[0] + shifted * coef[1]
        if self.k == 2:
            out = torch.max(out, x * coef[2] + shifted * coef[3])
        return out

    def count_madds(self, inputs, output) -> dict:
        """Element-wise multiply-adds per sample: 2 per output element per branch."""
        return {"dynamic": 2 * self.k * output[0].numel()}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, k={self.k}, groups={self.groups}"


def _bn_conv(cin, cout, kernel, stride, padding, groups) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False, groups=groups), nn.BatchNorm2d(cout)]


class _Conv(nn.Module):
    """Holder whose only child is `conv` (a Sequential): mirrors the reference key layout."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv(x)


def spatial_separable(cin: int, mid: int, cout: int, k: int, stride: int, groups1: int) -> _Conv:
    """(k,1) conv stride (s,1) → BN → depthwise (1,k) conv stride (1,s) → BN."""
    return _Conv(
        *_bn_conv(cin, mid, (k, 1), (stride, 1), (k // 2, 0), groups1),
        *_bn_conv(mid, cout, (1, k), (1, stride), (0, k // 2), mid),
    )


def group_pointwise(cin: int, cout: int, groups: int) -> _Conv:
    return _Conv(*_bn_conv(cin, cout, 1, 1, 0, groups))


class Stem(nn.Module):
    """(3,1) conv stride (2,1) → BN → grouped (1,3) conv stride (1,2) → BN → shuffle(g1) → ReLU6."""

    def __init__(self, cin: int, groups: tuple[int, int]):
        super().__init__()
        g1, g2 = groups
        sep = spatial_separable(cin, g1, g1 * g2, 3, 2, 1)
        sep.conv.append(ChannelShuffle(g1))
        self.stem = nn.Sequential(sep, nn.ReLU6(inplace=True))

    def forward(self, x):
        return self.stem(x)


class MicroBlock(nn.Module):
    """DYMicroBlock with the reference's three layouts (depthwise-first, pointwise-only, general)."""

    def __init__(self, cin: int, cout: int, row: tuple[int, ...], stride: int, spec: MicroNetSpec):
        super().__init__()
        _, _, _, k, c1, c2, g1, g2, c3, g3, g4, y1, y2, y3, r = row
        self.identity = stride == 1 and cin == cout
        hidden = cin * c1 * c2
        red = spec.reduction * r

        def shiftmax(ch, groups, relu, init_a=spec.init_a, init_b=spec.init_b, reduction=red):
            return DynamicShiftMax(ch, reduction, groups, k=2 if relu else 1, act_max=spec.act_max,
                                   init_a=init_a, init_b=init_b)

        a3, b3 = (spec.init_ab3[0], 0.0), (spec.init_ab3[1], 0.0)
        empty = nn.Sequential
        if g1 == 0:  # depthwise first: spatial-separable depthwise expansion, then grouped 1x1
            layers = [
                spatial_separable(cin, cin * c1, hidden, k, stride, cin),
                shiftmax(hidden, g2, y2 == 2) if y2 > 0 else nn.ReLU6(inplace=True),
                ChannelShuffle(g2),
                ChannelShuffle(hidden // 2) if y2 != 0 else empty(),
                group_pointwise(hidden, cout, g3),
                shiftmax(cout, g4, False, a3, b3, red // 2) if y3 > 0 else empty(),
                ChannelShuffle(g4),
                ChannelShuffle(cout // 2) if cout % 2 == 0 and y3 != 0 else empty(),
            ]
        elif g4 == 0:  # last block: grouped 1x1 expansion only
            layers = [
                group_pointwise(cin, hidden, g1),
                shiftmax(hidden, g2, False, a3, b3) if y3 > 0 else empty(),
            ]
        else:  # general: grouped 1x1 → Shift-Max → shuffle → depthwise sep → Shift-Max → grouped 1x1
            # After the depthwise conv the Shift-Max groups are C // g2, not g2.
            groups_dw = hidden // g2 if g2 != 1 else 1
            if y1 != 0 and y2 != 0:
                mid_shuffle = ChannelShuffle(hidden // 4)
            elif y1 == 0 and y2 == 0:
                mid_shuffle = empty()
            else:
                mid_shuffle = ChannelShuffle(hidden // 2)
            layers = [
                group_pointwise(cin, hidden, g1),
                shiftmax(hidden, g2, y1 == 2) if y1 > 0 else nn.ReLU6(inplace=True),
                ChannelShuffle(g2),
                spatial_separable(hidden, hidden, hidden, k, stride, hidden),
                empty(),
                shiftmax(hidden, groups_dw, y2 == 2) if y2 > 0 else nn.ReLU6(inplace=True),
                mid_shuffle,
                group_pointwise(hidden, cout, g3),
                shiftmax(cout, g4, False, a3, b3, red // 2 if cout < hidden else red) if y3 > 0 else empty(),
                ChannelShuffle(g4),
                ChannelShuffle(cout // 2) if y3 != 0 else empty(),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        out = self.layers(x)
        return out + x if self.identity else out


class SwishLinear(nn.Module):
    """Linear → BatchNorm1d → h_swish (the classifier's logits pass through all three)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.linear = nn.Sequential(nn.Linear(cin, cout), nn.BatchNorm1d(cout), HSwish())

    def forward(self, x):
        return self.linear(x)


class MicroNet(nn.Module):
    def __init__(self, spec: MicroNetSpec, num_classes: int = 1000):
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = [Stem(3, spec.stem_groups)]
        cin = spec.stem_ch
        for row in MICRONET_CONFIGS[spec.config]:
            stride, repeats, cout = row[0], row[1], row[2]
            for i in range(repeats):
                layers.append(MicroBlock(cin, cout, row, stride if i == 0 else 1, spec))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.Sequential(nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1), HSwish())
        self.classifier = nn.Sequential(
            SwishLinear(cin, spec.out_ch),
            nn.Dropout(spec.dropout),
            SwishLinear(spec.out_ch, num_classes),
        )
        self._initialize_weights()

    def _initialize_weights(self):
        # Same distributions as the reference training code, so untrained models are well scaled.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, (2.0 / n) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


_PUBLISHED = {"m0": (4_000_000, 46.6), "m1": (6_000_000, 51.4), "m2": (12_000_000, 59.4), "m3": (21_000_000, 62.5)}


def _register(variant: str) -> None:
    madds, top1 = _PUBLISHED[variant]
    card = Card(
        name=f"micronet-{variant}",
        family="micronet",
        madds_target=madds,
        published_top1=top1,
        paper="MicroNet: Improving Image Recognition with Extremely Low FLOPs (ICCV 2021)",
        description=f"MicroNet-{variant.upper()}: Micro-Factorized conv + Dynamic Shift-Max",
    )

    @register_model(card)
    def build(num_classes: int = 1000, **overrides) -> MicroNet:
        spec = SPECS[variant]
        if overrides:
            import dataclasses

            spec = dataclasses.replace(spec, **overrides)
        return MicroNet(spec, num_classes=num_classes)


for _variant in SPECS:
    _register(_variant)

"""MobileNetV3-Small (Howard et al., ICCV 2019): the static baselines MicroNet is compared with.

Module layout follows the common PyTorch one (features.N.block.M..., SE as fc1/fc2 1x1 convs,
classifier 0/3), so state_dicts in that layout load by key. Widths: every channel count is
make_divisible(c * width, 8), including the 1024-wide head; the 1x1 conv before the pool is
6x the last block's width. `conv_layer` lets DY-Conv variants swap every conv after the stem.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from edgekit.models.card import Card
from edgekit.models.layers import make_divisible
from edgekit.models.registry import register_model

# kernel, expanded, out, squeeze-excite, activation ("RE" ReLU / "HS" h-swish), stride
SMALL_CONFIG: list[tuple[int, int, int, bool, str, int]] = [
    (3, 16, 16, True, "RE", 2),
    (3, 72, 24, False, "RE", 2),
    (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2),
    (5, 240, 40, True, "HS", 1),
    (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1),
    (5, 144, 48, True, "HS", 1),
    (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1),
    (5, 576, 96, True, "HS", 1),
]
STEM_CH = 16
HEAD_CH = 1024
BN_EPS, BN_MOMENTUM = 1e-3, 1e-2

ConvLayer = Callable[..., nn.Module]  # (cin, cout, kernel, stride, padding, groups) -> module, no bias


def static_conv(cin: int, cout: int, kernel: int, stride: int, padding: int, groups: int) -> nn.Module:
    return nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)


def _act(kind: str) -> nn.Module:
    return nn.Hardswish() if kind == "HS" else nn.ReLU(inplace=True)


def conv_bn_act(cin, cout, kernel, stride=1, groups=1, act: str | None = "RE", conv_layer: ConvLayer = static_conv):
    layers = [conv_layer(cin, cout, kernel, stride, (kernel - 1) // 2, groups),
              nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)]
    if act is not None:
        layers.append(_act(act))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """x * hardsigmoid(fc2(relu(fc1(avgpool(x))))), squeeze = make_divisible(C / 4, 8)."""

    def __init__(self, channels: int):
        super().__init__()
        squeeze = make_divisible(channels // 4, 8)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, kernel, expanded, cout, use_se, act, stride, conv_layer: ConvLayer = static_conv):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(conv_bn_act(cin, expanded, 1, act=act, conv_layer=conv_layer))
        layers.append(conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, act=act, conv_layer=conv_layer))
        if use_se:
            layers.append(SqueezeExcite(expanded))
        layers.append(conv_bn_act(expanded, cout, 1, act=None, conv_layer=conv_layer))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res_connect else y


class MobileNetV3Small(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000, dropout: float = 0.2,
                 conv_layer: ConvLayer = static_conv):
        super().__init__()

        def ch(c: int) -> int:
            return make_divisible(c * width, 8)

        layers: list[nn.Module] = [conv_bn_act(3, ch(STEM_CH), 3, 2, act="HS")]  # stem stays static
        cin = ch(STEM_CH)
        for kernel, expanded, cout, use_se, act, stride in SMALL_CONFIG:
            layers.append(InvertedResidual(cin, kernel, ch(expanded), ch(cout), use_se, act, stride, conv_layer))
            cin = ch(cout)
        last = 6 * cin
        layers.append(conv_bn_act(cin, last, 1, act="HS", conv_layer=conv_layer))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        head = ch(HEAD_CH)
        self.classifier = nn.Sequential(nn.Linear(last, head), nn.Hardswish(), nn.Dropout(dropout),
                                        nn.Linear(head, num_classes))
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x)).flatten(1)
        return self.classifier(x)


# width: (published MAdds, published params or None, published top-1) — FACTS.md
PUBLISHED = {
    1.0: (66_000_000, 2_900_000, 67.4),
    0.75: (44_000_000, 2_400_000, 65.4),
    0.5: (21_000_000, None, 58.0),
    0.35: (12_000_000, None, 49.8),
}


def _card(width: float) -> Card:
    madds, params, top1 = PUBLISHED[width]
    return Card(
        name=f"mobilenetv3-small-{int(round(width * 100)):03d}",
        family="mobilenetv3",
        madds_target=madds,
        published_top1=top1,
        paper="Searching for MobileNetV3 (Howard et al., ICCV 2019), arXiv 1905.02244",
        description=f"MobileNetV3-Small x{width} static baseline (the MicroNet paper's comparison point)",
        extra={"width": width, "published_params": params},
    )


def _register(width: float) -> None:
    @register_model(_card(width))
    def build(num_classes: int = 1000, **kwargs) -> MobileNetV3Small:
        return MobileNetV3Small(width=width, num_classes=num_classes, **kwargs)


for _w in (0.35, 0.5, 0.75, 1.0):
    _register(_w)

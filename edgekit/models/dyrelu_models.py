"""Zoo models built with DY-ReLU (arXiv 2003.10027).

- `mobilenetv2-dyrelu`: MobileNetV2 x1.0 whose inverted-residual blocks use DY-ReLU-B (K=2,
  reduction 4, lambda_a=1, lambda_b=0.5, alpha=(1,0), beta=(0,0)) in place of ReLU6 after the
  expansion and the depthwise convolutions; the stem and the 1280-wide head keep ReLU6.
  The placement (two DY-ReLUs per block) is our reading of "DY-ReLU in its blocks"; it counts
  14.84M params and 323.4M MAdds (+7.5% over 300.8M, the paper says +5%): the paper's own
  parameter count was not available to check against.
Module layout follows the common PyTorch MobileNetV2 (features.N.conv.M..., classifier.1).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from edgekit.models.card import Card
from edgekit.models.dyrelu import DYReLU
from edgekit.models.layers import make_divisible
from edgekit.models.registry import register_model

# expansion t, out channels c, repeats n, first stride s
MOBILENETV2_CONFIG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                      (6, 320, 1, 1)]

ActLayer = Callable[[int], nn.Module]  # channels -> activation module


def relu6(channels: int) -> nn.Module:
    return nn.ReLU6(inplace=True)


def dyrelu_b(channels: int) -> nn.Module:
    return DYReLU(channels, reduction=4, k=2, variant="B")


def _conv_bn(cin, cout, kernel, stride=1, groups=1, act: ActLayer | None = relu6) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act(cout))
    return nn.Sequential(*layers)


class InvertedResidualV2(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int, act: ActLayer):
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, hidden, 1, act=act))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden, act=act),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.use_res_connect else y


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, width: float = 1.0, block_act: ActLayer = relu6,
                 dropout: float = 0.2):
        super().__init__()
        cin = make_divisible(32 * width, 8)
        last = make_divisible(1280 * max(1.0, width), 8)
        layers: list[nn.Module] = [_conv_bn(3, cin, 3, 2)]
        for t, c, n, s in MOBILENETV2_CONFIG:
            cout = make_divisible(c * width, 8)
            for i in range(n):
                layers.append(InvertedResidualV2(cin, cout, s if i == 0 else 1, t, block_act))
                cin = cout
        layers.append(_conv_bn(cin, last, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


@register_model(Card(
    name="mobilenetv2-dyrelu",
    family="dyrelu",
    madds_target=315_000_000,  # paper: MobileNetV2 x1.0 (300M) + 5% FLOPs
    published_top1=76.2,
    paper="Dynamic ReLU (Chen et al., ECCV 2020), arXiv 2003.10027",
    description="MobileNetV2 x1.0 with DY-ReLU-B (K=2) in its inverted-residual blocks",
    extra={"k": 2, "variant": "B", "baseline_top1": 72.0},
))
def mobilenetv2_dyrelu(num_classes: int = 1000) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes, block_act=dyrelu_b)

"""Zoo models built with DY-Conv (arXiv 1912.03458), K=4 kernels per layer, temperature 1
(the value training anneals to; inference uses it).

- `mobilenetv3-small-dyconv`: MobileNetV3-Small x1.0 with every convolution after the stem
  (expansion, depthwise, projection, the final 1x1) dynamic, as in the paper; SE and the classifier
  stay static.
- `resnet18-dyconv`: ResNet-18 with its 3x3 block convolutions dynamic; the 7x7 stem and the 1x1
  downsample shortcuts stay static.
"""

from __future__ import annotations

from torch import nn

from edgekit.models.card import Card
from edgekit.models.dyconv import DynamicConv2d
from edgekit.models.mobilenetv3 import MobileNetV3Small
from edgekit.models.registry import register_model

K = 4
INFERENCE_TEMPERATURE = 1.0


def dynamic_conv(cin: int, cout: int, kernel: int, stride: int, padding: int, groups: int) -> nn.Module:
    return DynamicConv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False, k=K,
                         temperature=INFERENCE_TEMPERATURE)


@register_model(Card(
    name="mobilenetv3-small-dyconv",
    family="dyconv",
    madds_target=68_500_000,  # paper: 0.137 GFLOPs (= 68.5M MAdds), +4% over 66M
    published_top1=69.7,
    paper="Dynamic Convolution: Attention over Convolution Kernels (Chen et al., CVPR 2020), arXiv 1912.03458",
    description="DY-MobileNetV3-Small: K=4 dynamic kernels in every conv after the stem",
    extra={"k": K, "published_params": 4_800_000},
))
def mobilenetv3_small_dyconv(num_classes: int = 1000, **kwargs) -> MobileNetV3Small:
    return MobileNetV3Small(width=1.0, num_classes=num_classes, conv_layer=dynamic_conv, **kwargs)


class BasicBlock(nn.Module):
    """ResNet basic block with dynamic 3x3s: conv1/bn1/relu/conv2/bn2 (+ downsample)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = dynamic_conv(cin, cout, 3, stride, 1, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = dynamic_conv(cout, cout, 3, 1, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18DyConv(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (cout, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout)))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


@register_model(Card(
    name="resnet18-dyconv",
    family="dyconv",
    madds_target=1_850_000_000,  # paper: 3.7 GFLOPs for DY-ResNet-18 (= 1.85G MAdds)
    paper="Dynamic Convolution: Attention over Convolution Kernels (Chen et al., CVPR 2020), arXiv 1912.03458",
    description="ResNet-18 with K=4 dynamic 3x3 convolutions (stem and 1x1 shortcuts static)",
    extra={"k": K},
))
def resnet18_dyconv(num_classes: int = 1000) -> ResNet18DyConv:
    return ResNet18DyConv(num_classes=num_classes)

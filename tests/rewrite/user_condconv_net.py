"""An EfficientNet-B0 with CondConv written the way the widely used image-model library writes it (not edgekit's
classes, not its code): a `CondConv2d` whose experts are one (K, prod(weight shape)) parameter mixed by
`torch.matmul(routing_weights, weight)`, the batch folded into the groups (`x.reshape(1, B*C, H, W)`,
`groups * B`) and unfolded with `permute([1, 0, 2, 3]).view(...)`; one sigmoid routing per block shared by the
block's expand, depthwise and project convolutions; squeeze-excitation; SiLU; CondConv in the last stages
(`condconv_from`), plain convolutions before.

    user_condconv_net.py:efficientnet_cc_b0_4e     224, width 1.0, 4 experts (the library's model, as the issue's census)
    user_condconv_net.py:efficientnet_cc_tiny      the same code at width 0.25, depth 1 per stage (tests)
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class CondConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, groups=1, bias=False,
                 num_experts=4):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = (kernel_size, kernel_size), (stride, stride)
        self.padding = ((kernel_size - 1) // 2,) * 2 if padding is None else (padding, padding)
        self.num_experts = num_experts
        self.weight_shape = (out_channels, in_channels // groups) + self.kernel_size
        n = math.prod(self.weight_shape)
        self.weight = nn.Parameter(torch.empty(num_experts, n))
        self.bias = nn.Parameter(torch.empty(num_experts, out_channels)) if bias else None
        fan_in = math.prod(self.weight_shape[1:])
        bound = 1 / math.sqrt(fan_in)
        for e in range(num_experts):  # each expert initialised as a conv weight of its own
            nn.init.kaiming_uniform_(self.weight.data[e].view(self.weight_shape), a=math.sqrt(5))
            if self.bias is not None:
                nn.init.uniform_(self.bias.data[e], -bound, bound)

    def forward(self, x, routing_weights):
        B, C, H, W = x.shape
        weight = torch.matmul(routing_weights, self.weight)
        weight = weight.view((B * self.out_channels, self.in_channels // self.groups) + self.kernel_size)
        bias = torch.matmul(routing_weights, self.bias).view(B * self.out_channels) if self.bias is not None else None
        x = x.reshape(1, B * C, H, W)
        out = F.conv2d(x, weight, bias, stride=self.stride, padding=self.padding, groups=self.groups * B)
        return out.permute([1, 0, 2, 3]).view(B, self.out_channels, out.shape[-2], out.shape[-1])


class SqueezeExcite(nn.Module):
    def __init__(self, chs, rd):
        super().__init__()
        self.conv_reduce, self.conv_expand = nn.Conv2d(chs, rd, 1), nn.Conv2d(rd, chs, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.conv_expand(F.silu(self.conv_reduce(s))))


class InvertedResidual(nn.Module):
    """MBConv: expand 1x1 -> depthwise kxk -> SE -> project 1x1 (BatchNorm after each), residual when shapes agree."""

    def __init__(self, cin, cout, k, stride, expand, se_ratio=0.25):
        super().__init__()
        mid = cin * expand
        self.has_pw = expand != 1
        if self.has_pw:
            self.conv_pw, self.bn1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv_dw = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.se = SqueezeExcite(mid, max(1, int(cin * se_ratio)))
        self.conv_pwl, self.bn3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = F.silu(self.bn1(self.conv_pw(x))) if self.has_pw else x
        y = self.bn3(self.conv_pwl(self.se(F.silu(self.bn2(self.conv_dw(y))))))
        return x + y if self.skip else y


class CondConvResidual(InvertedResidual):
    """The same block with CondConv expand / depthwise / project and one routing for all three."""

    def __init__(self, cin, cout, k, stride, expand, se_ratio=0.25, num_experts=4):
        super().__init__(cin, cout, k, stride, expand, se_ratio)
        mid = cin * expand
        self.routing_fn = nn.Linear(cin, num_experts)
        if self.has_pw:
            self.conv_pw = CondConv2d(cin, mid, 1, num_experts=num_experts)
        self.conv_dw = CondConv2d(mid, mid, k, stride, groups=mid, num_experts=num_experts)
        self.conv_pwl = CondConv2d(mid, cout, 1, num_experts=num_experts)

    def forward(self, x):
        r = torch.sigmoid(self.routing_fn(F.adaptive_avg_pool2d(x, 1).flatten(1)))
        y = F.silu(self.bn1(self.conv_pw(x, r))) if self.has_pw else x
        y = self.bn3(self.conv_pwl(self.se(F.silu(self.bn2(self.conv_dw(y, r)))), r))
        return x + y if self.skip else y


# EfficientNet-B0: (expand, kernel, stride, channels, repeats) per stage
B0 = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
      (6, 3, 1, 320, 1)]


def _ch(c, width):
    return max(8, int(c * width + 4) // 8 * 8)


class EfficientNetCC(nn.Module):
    def __init__(self, width=1.0, depth=None, num_classes=1000, num_experts=4, condconv_from=4):
        super().__init__()
        stem = _ch(32, width)
        self.conv_stem, self.bn1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem)
        blocks, cin = [], stem
        for i, (e, k, s, c, n) in enumerate(B0):
            cout = _ch(c, width)
            for j in range(n if depth is None else min(n, depth)):
                cls = CondConvResidual if i >= condconv_from else InvertedResidual
                kw = {"num_experts": num_experts} if cls is CondConvResidual else {}
                blocks.append(cls(cin, cout, k, s if j == 0 else 1, e, **kw))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        head = _ch(1280, width)
        self.conv_head, self.bn2 = nn.Conv2d(cin, head, 1, bias=False), nn.BatchNorm2d(head)
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x):
        x = F.silu(self.bn1(self.conv_stem(x)))
        x = F.silu(self.bn2(self.conv_head(self.blocks(x))))
        return self.classifier(x.mean((2, 3)))


def efficientnet_cc_b0_4e():
    torch.manual_seed(0)
    return EfficientNetCC().eval()


def efficientnet_cc_tiny():
    torch.manual_seed(0)
    return EfficientNetCC(width=0.25, depth=1, num_classes=10).eval()

"""A user's DY-Conv MobileNetV3-Small: the MobileNetV3-Small skeleton with every conv after the stem replaced
by the user's own dynamic conv, written as the widely copied public Dynamic_conv2d is (attention from 1x1
convs on the pooled map, softmax with a temperature, K kernels mixed by torch.mm, the batch reshaped into
the groups) — not edgekit's DynamicConv2d. Loadable as `user_dyconv_mnv3.py:dy_mobilenetv3_small`;
benchmarks/user_models.py times it against the zoo's mobilenetv3-small-dyconv."""

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.mobilenetv3 import MobileNetV3Small


class Dynamic_conv2d(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=False,
                 K=4, temperature=1.0):
        super().__init__()
        self.in_planes, self.out_planes, self.kernel_size = in_planes, out_planes, kernel_size
        self.stride, self.padding, self.dilation, self.groups, self.K, self.temperature = \
            stride, padding, dilation, groups, K, temperature
        hidden = max(in_planes // 4, 4)
        self.fc1 = nn.Conv2d(in_planes, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, K, 1, bias=True)
        self.weight = nn.Parameter(torch.randn(K, out_planes, in_planes // groups, kernel_size, kernel_size),
                                   requires_grad=True)
        self.bias = nn.Parameter(torch.zeros(K, out_planes)) if bias else None
        for i in range(K):
            nn.init.kaiming_uniform_(self.weight[i])

    def forward(self, x):
        att = F.softmax(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))).view(x.size(0), -1)
                        / self.temperature, 1)
        batch_size, _, height, width = x.size()
        x = x.reshape(1, -1, height, width)
        weight = self.weight.view(self.K, -1)
        aggregate_weight = torch.mm(att, weight).view(-1, self.in_planes // self.groups, self.kernel_size,
                                                      self.kernel_size)
        aggregate_bias = torch.mm(att, self.bias).view(-1) if self.bias is not None else None
        output = F.conv2d(x, weight=aggregate_weight, bias=aggregate_bias, stride=self.stride,
                          padding=self.padding, dilation=self.dilation, groups=self.groups * batch_size)
        return output.view(batch_size, self.out_planes, output.size(-2), output.size(-1))


def dy_mobilenetv3_small(num_classes: int = 1000):
    return MobileNetV3Small(width=1.0, num_classes=num_classes,
                            conv_layer=lambda cin, cout, k, s, p, g: Dynamic_conv2d(cin, cout, k, s, p, groups=g))

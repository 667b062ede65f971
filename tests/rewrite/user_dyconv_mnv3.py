"""A user's DY-Conv MobileNetV3-Small: the MobileNetV3-Small skeleton with every conv after the stem replaced
by the user's own dynamic conv, the widely copied public Dynamic_conv2d (user_dynamic_convs.DyConvTemperature:
attention from 1x1 convs on the pooled map, softmax with a temperature, K kernels mixed by torch.mm, the batch
reshaped into the groups) — not edgekit's DynamicConv2d. Loadable as `user_dyconv_mnv3.py:dy_mobilenetv3_small`;
benchmarks/user_models.py times it against the zoo's mobilenetv3-small-dyconv."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # loaded by path (file.py:factory): its sibling too

from user_dynamic_convs import DyConvTemperature  # noqa: E402

from edgekit.models.mobilenetv3 import MobileNetV3Small  # noqa: E402


def dy_mobilenetv3_small(num_classes: int = 1000):
    def conv(cin, cout, k, s, p, g):
        return DyConvTemperature(cin, cout, k, stride=s, padding=p, groups=g, temperature=1.0, bias=False)

    return MobileNetV3Small(width=1.0, num_classes=num_classes, conv_layer=conv)

"""User-style dynamic convolutions, written the ways public code writes them (not edgekit's classes).

Used by tests/rewrite/test_lift_dynamic_conv.py; also loadable as a model file
(`user_dynamic_convs.py:factory_<kind>`) so `edgekit export` sees exactly what a user would pass.
"""

import torch
from torch import nn
import torch.nn.functional as F


class SoftmaxAttention(nn.Module):
    """avgpool → FC → ReLU → FC → softmax(z / τ): (B, K)."""

    def __init__(self, c, k, tau=30.0):
        super().__init__()
        self.fc1, self.fc2, self.tau = nn.Linear(c, max(4, c // 4)), nn.Linear(max(4, c // 4), k), tau

    def forward(self, x):
        z = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.softmax(self.fc2(F.relu(self.fc1(z))) / self.tau, dim=1)


class DyConvMM(nn.Module):
    """(1) DY-Conv: torch.mm of the kernel bank, batch folded into the groups."""

    def __init__(self, cin, cout, ks=3, k=4, groups=1, stride=1):
        super().__init__()
        self.cin, self.cout, self.ks, self.k, self.g, self.stride = cin, cout, ks, k, groups, stride
        self.attn = SoftmaxAttention(cin, k)
        self.weight = nn.Parameter(torch.randn(k, cout, cin // groups, ks, ks) * 0.2)
        self.bias = nn.Parameter(torch.randn(k, cout) * 0.1)

    def forward(self, x):
        b, c, h, w = x.shape
        a = self.attn(x)
        weight = torch.mm(a, self.weight.view(self.k, -1)).view(b * self.cout, self.cin // self.g, self.ks, self.ks)
        bias = torch.mm(a, self.bias).view(-1)
        y = F.conv2d(x.view(1, b * c, h, w), weight, bias, self.stride, self.ks // 2, groups=self.g * b)
        return y.view(b, self.cout, y.size(-2), y.size(-1))


class CondConv(nn.Module):
    """(2) CondConv: sigmoid routing, experts (K, Cout*Cin/g*k*k) mixed by torch.matmul, per-sample loop."""

    def __init__(self, cin, cout, ks=1, k=4, groups=1):
        super().__init__()
        self.cin, self.cout, self.ks, self.k, self.g = cin, cout, ks, k, groups
        self.route = nn.Linear(cin, k)
        self.experts = nn.Parameter(torch.randn(k, cout * (cin // groups) * ks * ks) * 0.2)
        self.expert_bias = nn.Parameter(torch.randn(k, cout) * 0.1)

    def forward(self, x):
        r = torch.sigmoid(self.route(x.mean(dim=(2, 3))))
        w = torch.matmul(r, self.experts)
        bias = torch.matmul(r, self.expert_bias)
        outs = []
        for i in range(x.shape[0]):
            wi = w[i].view(self.cout, self.cin // self.g, self.ks, self.ks)
            outs.append(F.conv2d(x[i:i + 1], wi, bias[i], padding=self.ks // 2, groups=self.g))
        return torch.cat(outs, 0)


class DyConvEinsum(nn.Module):
    """(3) einsum('bk,koihw->boihw')."""

    def __init__(self, cin, cout, ks=3, k=3):
        super().__init__()
        self.attn = SoftmaxAttention(cin, k, tau=1.0)
        self.weight = nn.Parameter(torch.randn(k, cout, cin, ks, ks) * 0.2)
        self.pad = ks // 2

    def forward(self, x):
        w = torch.einsum("bk,koihw->boihw", self.attn(x), self.weight)
        return torch.cat([F.conv2d(x[i:i + 1], w[i], padding=self.pad) for i in range(x.shape[0])])


class DyConvBroadcast(nn.Module):
    """(4) (attn[:, :, None, None, None, None] * W[None]).sum(1)."""

    def __init__(self, cin, cout, ks=3, k=4):
        super().__init__()
        self.attn = SoftmaxAttention(cin, k, tau=4.0)
        self.weight = nn.Parameter(torch.randn(k, cout, cin, ks, ks) * 0.2)

    def forward(self, x):
        w = (self.attn(x)[:, :, None, None, None, None] * self.weight[None]).sum(1)
        return F.conv2d(x, w[0], padding=1)


class Gated(DyConvMM):
    """An input-dependent conv weight no pass recognises: DY-Conv's mixed kernel squashed by tanh
    (not linear in the attention, and no small tensor it is linear in)."""

    def forward(self, x):
        b, c, h, w = x.shape
        a = self.attn(x)
        weight = torch.tanh(torch.mm(a, self.weight.view(self.k, -1)))
        weight = weight.view(b * self.cout, self.cin // self.g, self.ks, self.ks)
        y = F.conv2d(x.view(1, b * c, h, w), weight, None, self.stride, self.ks // 2, groups=self.g * b)
        return y.view(b, self.cout, y.size(-2), y.size(-1))


class DyConvTemperature(nn.Module):
    """(6) The widely copied public Dynamic_conv2d: attention from 1x1 *convs* on the pooled map, softmax with a
    temperature, weight (K, Cout, Cin, k, k) mixed by torch.mm, the batch reshaped into the groups."""

    def __init__(self, cin, cout, ks=3, stride=1, padding=None, groups=1, k=4, temperature=34.0, bias=True):
        super().__init__()
        self.cin, self.cout, self.ks, self.k, self.t = cin, cout, ks, k, temperature
        self.stride, self.pad, self.g = stride, ks // 2 if padding is None else padding, groups
        self.fc1, self.fc2 = nn.Conv2d(cin, max(cin // 4, 4), 1, bias=False), nn.Conv2d(max(cin // 4, 4), k, 1)
        self.weight = nn.Parameter(torch.randn(k, cout, cin // groups, ks, ks) * 0.2)
        self.bias = nn.Parameter(torch.randn(k, cout) * 0.1) if bias else None

    def forward(self, x):
        b, _, h, w = x.size()
        att = F.softmax(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))).view(b, -1) / self.t, 1)
        weight = torch.mm(att, self.weight.view(self.k, -1)).view(-1, self.cin // self.g, self.ks, self.ks)
        bias = torch.mm(att, self.bias).view(-1) if self.bias is not None else None
        y = F.conv2d(x.reshape(1, -1, h, w), weight, bias, self.stride, self.pad, groups=self.g * b)
        return y.view(b, self.cout, y.size(-2), y.size(-1))


class ODConvLite(nn.Module):
    """(7) ODConv-style: an input-channel attention before the conv, an output-filter attention after it, and
    the K kernels mixed as torch.sum(softmax * W, dim=1) over a 6-D broadcast, batch folded into the groups."""

    def __init__(self, cin, cout, ks=3, k=4):
        super().__init__()
        self.cin, self.cout, self.ks = cin, cout, ks
        self.fc = nn.Conv2d(cin, 8, 1)
        self.ch, self.fl, self.kn = nn.Conv2d(8, cin, 1), nn.Conv2d(8, cout, 1), nn.Conv2d(8, k, 1)
        self.weight = nn.Parameter(torch.randn(1, k, cout, cin, ks, ks) * 0.2)

    def forward(self, x):
        b, _, h, w = x.shape
        a = F.relu(self.fc(F.adaptive_avg_pool2d(x, 1)))
        ch, fl = torch.sigmoid(self.ch(a)).view(b, -1, 1, 1), torch.sigmoid(self.fl(a)).view(b, -1, 1, 1)
        kn = torch.softmax(self.kn(a).view(b, -1, 1, 1, 1, 1), dim=1)
        weight = torch.sum(kn * self.weight, dim=1).view(-1, self.cin, self.ks, self.ks)
        y = F.conv2d((x * ch).reshape(1, -1, h, w), weight, padding=self.ks // 2, groups=b)
        return y.view(b, self.cout, h, w) * fl


def blocks(kind):
    if kind == "temperature":
        return [DyConvTemperature(8, 16)], 1
    if kind == "odconv":
        return [ODConvLite(8, 16)], 1
    if kind == "mm":
        return [DyConvMM(8, 16), DyConvMM(16, 16, groups=16)], 2
    if kind == "condconv":
        return [CondConv(8, 16), CondConv(16, 16, ks=3, groups=16), CondConv(16, 16)], 3
    if kind == "einsum":
        return [DyConvEinsum(8, 16)], 1
    if kind == "broadcast":
        return [DyConvBroadcast(8, 16)], 1
    if kind == "gated":
        return [Gated(8, 16)], 0
    raise ValueError(kind)


class Net(nn.Module):
    """conv stem + BN + the blocks + head."""

    def __init__(self, kind):
        super().__init__()
        body, self.expected = blocks(kind)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(*body)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean(dim=(2, 3)))


def factory_mm():
    return Net("mm").eval()


def factory_condconv():
    return Net("condconv").eval()


def factory_einsum():
    return Net("einsum").eval()


def factory_broadcast():
    return Net("broadcast").eval()


def factory_gated():
    return Net("gated").eval()


class AffineDyConv(nn.Module):
    """A static kernel plus an attention-mixed residual (W = W_s + Σ π_k ΔW_k), static bias, stride 2, dilation 2."""

    def __init__(self, cin, cout, k=2):
        super().__init__()
        self.attn = SoftmaxAttention(cin, k, tau=1.0)
        self.static = nn.Parameter(torch.randn(cout, cin, 3, 3) * 0.2)
        self.delta = nn.Parameter(torch.randn(k, cout * cin * 9) * 0.1)
        self.bias = nn.Parameter(torch.randn(cout) * 0.1)

    def forward(self, x):
        w = self.static + torch.matmul(self.attn(x), self.delta).view_as(self.static)
        return F.conv2d(x, w, self.bias, stride=2, padding=2, dilation=2)


class DyConv1d(nn.Module):
    """A 1-D DY-Conv (audio / sequence style): sigmoid routing, bmm of the bank, stride 2."""

    def __init__(self, cin, cout, k=3):
        super().__init__()
        self.cout, self.cin = cout, cin
        self.route = nn.Linear(cin, k)
        self.bank = nn.Parameter(torch.randn(k, cout * cin * 5) * 0.2)

    def forward(self, x):
        r = torch.sigmoid(self.route(x.mean(-1)))
        w = torch.bmm(r[:, None], self.bank[None].expand(x.shape[0], -1, -1))[:, 0]
        return F.conv1d(x, w.view(self.cout, self.cin, 5), stride=2, padding=2)


class Branchy(DyConvMM):
    """Data-dependent Python control flow: torch.export cannot trace it (the pass must leave it)."""

    def forward(self, x):
        a = self.attn(x)
        if float(a[0, 0]) > 2.0:  # never true (softmax), but only a real value can say so
            a = a * 2
        weight = torch.mm(a, self.weight.view(self.k, -1)).view(self.cout, self.cin, self.ks, self.ks)
        return F.conv2d(x, weight, None, 1, self.ks // 2)

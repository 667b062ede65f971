"""One Dynamic Shift-Max layer on onnxruntime, 1 thread: the roll form the rewrite emits vs an
"interleaved" form (producer conv emits [x, x~, x, x~], coefficients in the same order, one Mul,
a constant grouped 1x1 conv summing pairs, one Max of two slices). Alternating runs in one process.

Measured 2026-11-26 (shared 2-core EPYC): interleaved 1.48x / 1.65x / 1.96x slower than roll at
16->64 ch 56x56, 32->96 ch 28x28, 64->384 ch 14x14 — rejected; kept as the record.

    python benchmarks/shiftmax_forms_probe.py
"""
import tempfile
import time, statistics, torch, numpy as np, onnxruntime as ort
from torch import nn
import torch.nn.functional as F
torch.manual_seed(0)
TMP = tempfile.mkdtemp()

def hs(x): return F.relu6(x + 3) / 6

class RollForm(nn.Module):
    def __init__(s, cin, c, sq=8):
        super().__init__(); s.c=c
        s.prod = nn.Conv2d(cin, c, 1)
        s.f1 = nn.Conv2d(c, sq, 1); s.f2 = nn.Conv2d(sq, 4*c, 1)
    def forward(s, inp):
        x = s.prod(inp)
        y = (hs(s.f2(F.relu(s.f1(x.mean((2,3), keepdim=True))))) - .5) * 4
        a1, b1, a2, b2 = y.split(s.c, 1)
        xs = torch.cat([x[:, 1:], x[:, :1]], 1)
        return torch.maximum(x*a1 + xs*b1, x*a2 + xs*b2)

class Interleaved(nn.Module):
    def __init__(s, cin, c, sq=8):
        super().__init__(); s.c=c
        s.prod = nn.Conv2d(cin, 4*c, 1)          # [x, xs] pairs for branch 1, then branch 2
        s.f1 = nn.Conv2d(cin, sq, 1); s.f2 = nn.Conv2d(sq, 4*c, 1)  # hyper from pooled input (1x1 is linear)
        s.sum = nn.Conv2d(4*c, 2*c, 1, groups=2*c, bias=False)
        nn.init.ones_(s.sum.weight)
    def forward(s, inp):
        x4 = s.prod(inp)
        y = (hs(s.f2(F.relu(s.f1(inp.mean((2,3), keepdim=True))))) - .5) * 4
        z = s.sum(x4 * y)
        return torch.maximum(z[:, :s.c], z[:, s.c:])

def export(m, shape, path):
    torch.onnx.export(m.eval(), (torch.randn(*shape),), path, dynamo=False, opset_version=17)
    o = ort.SessionOptions(); o.intra_op_num_threads=1; o.inter_op_num_threads=1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])

for cin, c, hw in [(16, 64, 56), (32, 96, 28), (64, 384, 14)]:
    shape = (1, cin, hw, hw)
    sa = export(RollForm(cin, c), shape, f"{TMP}/a.onnx"); sb = export(Interleaved(cin, c), shape, f"{TMP}/b.onnx")
    x = np.random.randn(*shape).astype(np.float32)
    ts = {"roll": [], "inter": []}
    for r in range(30):
        for k, s in (("roll", sa), ("inter", sb)) if r % 2 == 0 else (("inter", sb), ("roll", sa)):
            t = time.perf_counter()
            for _ in range(20): s.run(None, {s.get_inputs()[0].name: x})
            ts[k].append((time.perf_counter() - t) / 20 * 1e3)
    a, b = statistics.median(ts["roll"]), statistics.median(ts["inter"])
    print(f"cin {cin} c {c} {hw}x{hw}: roll {a:.3f} ms  interleaved {b:.3f} ms  ratio {b/a:.2f}")

"""Which part of an INT8 IR the aarch64 OpenVINO CPU plugin refuses (issue 20 (a)): sub-models of the IR, cut
between two named nodes (CUT's output becomes a Parameter, END's output the Result), compiled on the emulated
aarch64 device's openvino (edgekit device setup --runtime openvino). Prints OK / FAIL and the plugin's message.

    python benchmarks/probes/openvino_arm_int8_cut.py IR.xml --cut NODE --end NODE [--end NODE ...]

Measured 2026-12-03 on mobilenetv3-small-100 INT8 at 64x64 (--no-int8-search, synthetic calibration): the whole
IR fails with "object is not initialized". --cut /features/features.2/block/block.1/block.1.2/Relu: every end up to
features.3's expand conv compiles, every end from features.3's depthwise conv (block.1.0) on fails the same way.
Cutting right after a FakeQuantize leaves a float-input conv with int8 weights, which fails differently
(AlignUnsupportedLPConvFQPrecision): a cut artifact. Minimal IRs: openvino_arm_min_ir.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

BOARD = """
import sys, openvino as ov
core = ov.Core()
for f in sys.argv[1:]:
    try:
        core.compile_model(core.read_model(f), "CPU", {"INFERENCE_NUM_THREADS": 1})
        print("OK", f, flush=True)
    except Exception as e:
        lines = [l for l in str(e).splitlines() if l.strip() and not l.startswith("Exception from")]
        print("FAIL", f, " | ".join(lines[:2]), flush=True)
"""


def cut(xml: str, start: str, end: str, out: Path) -> Path:
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    m = ov.Core().read_model(xml)
    by = {o.get_friendly_name(): o for o in m.get_ordered_ops()}
    if start == "input":
        sub = ov.Model([by[end].output(0)], m.get_parameters(), "cut")
    else:
        p = ops.parameter(by[start].output(0).get_partial_shape(), np.float32)
        for t in list(by[start].output(0).get_target_inputs()):
            t.replace_source_output(p.output(0))
        sub = ov.Model([by[end].output(0)], [p], "cut")  # raises when START does not cut every path to END
    ov.save_model(sub, str(out), compress_to_fp16=False)
    return out


def main(argv=None) -> int:
    from edgekit.runtimes.remote.emulated import open_device

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("xml")
    ap.add_argument("--cut", default="input", help="node whose output becomes the Parameter ('input': none)")
    ap.add_argument("--end", action="append", required=True)
    args = ap.parse_args(argv)
    python = open_device().python("openvino")
    with tempfile.TemporaryDirectory() as d:
        files = [str(cut(args.xml, args.cut, e, Path(d) / f"cut{i}.xml")) for i, e in enumerate(args.end)]
        for f, e in zip(files, args.end):
            print(f, "=", e)
        r = subprocess.run([str(python), "-c", BOARD, *files], capture_output=True, text=True)
        print(r.stdout, end="")
        return r.returncode


if __name__ == "__main__":
    sys.exit(main())

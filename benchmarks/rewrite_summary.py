"""Markdown table from benchmarks/results/rewrite_probe_*.json (written by rewrite_probe.py --out).

    python benchmarks/rewrite_summary.py > benchmarks/results/rewrite_summary.md
"""

from __future__ import annotations

import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, "results", "rewrite_probe_*.json"))):
        d = json.load(open(path))
        tc, oc = d["tflite_census"], d["onnx_census"]
        rows.append(
            f"| {d['model']} | {d['size']} "
            f"| {d['ort_ms']['stock']:.3f} | {d['ort_ms']['base']:.3f} | **{d['ort_ratio']['base']:.2f}** "
            f"| {d['tflite_ms']['stock']:.3f} | {d['tflite_ms']['base']:.3f} | **{d['tflite_ratio']['base']:.2f}** "
            f"| {d['openvino_ms']['stock']:.3f} | {d['openvino_ms']['base']:.3f} | **{d['openvino_ratio']['base']:.2f}** "
            f"| {tc['stock']['partitions']} → {tc['base']['partitions']} | {tc['stock']['default_kernel_ops']} → "
            f"{tc['base']['default_kernel_ops']} | {tc['stock']['transpose']} → {tc['base']['transpose']} "
            f"| {oc['stock']['gather']} → {oc['base']['gather']} | {oc['stock']['transpose']} → {oc['base']['transpose']} |")
    print("Stock = unmodified model exported as-is; edgekit = `rewrite_for_export(target)` then the same exporter.")
    print("1 thread, batch 1, medians of alternating rounds in one run per model (shared 2-core machine: compare")
    print("ratios, not milliseconds). ONNX: torch.onnx.export(dynamo=False, opset 17) + onnxslim → onnxruntime;")
    print("LiteRT: litert_torch.convert → Interpreter (XNNPACK); OpenVINO: IR read from the ONNX export.\n")
    print("| model | size | ORT stock ms | ORT edgekit ms | ORT ratio | LiteRT stock | LiteRT edgekit | LiteRT ratio "
          "| OV stock | OV edgekit | OV ratio | XNNPACK partitions | default-kernel ops | TFLite TRANSPOSE "
          "| ONNX Gather | ONNX Transpose |")
    print("|" + "---|" * 17)
    print("\n".join(rows))


if __name__ == "__main__":
    main()

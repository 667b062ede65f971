"""What the quantization tests know about the host they run on."""

from __future__ import annotations

import pytest

from edgekit.exporters.quantize_onnx import REDUCE_RANGE

# NNCF INT8 of the STOCK digits graph (torch.onnx.export, GatherND Shift-Max) on an x86 host without VNNI was a
# strict xfail here until 2026-12-03 (logits cosine 0.78, top-1 64 vs 97.8). Cause: OpenVINO's AVX2 int8 kernels
# saturate u8*s8 pair sums in 16 bits (as onnxruntime's do), and NNCF's overflow_fix skips the channel-multiplier
# depthwise convs of MicroNet's stem and Micro-factorized blocks ([G, 2, 1, k, 1] weights: "depthwise" to NNCF,
# a saturating grouped kernel to oneDNN). quantize_openvino now sets overflow_fix ENABLE and makes those 7-bit
# itself (quantize_openvino.SEVEN_BIT_WHY): logits cosine 0.998, top-1 98.2 (FP32 97.8) on that host; the tests
# run unmarked.

# `export_model(..., "all", int8_io=True, calib_method="entropy")` of the digits model on the same host: the LiteRT
# INT8 file's parity on the calibration data is top-1 agreement 0.125 (16 inputs); the commit this session started
# from fails the same way, so it is the host, not a change. Cause not found yet (2026-12-02).
LITERT_INT8_IO_HOST = pytest.mark.xfail(REDUCE_RANGE, strict=True,
                                        reason="LiteRT INT8 int8-io parity on an x86 host without VNNI: top-1 "
                                               "agreement 0.125 (tests/quantization_host.py)")

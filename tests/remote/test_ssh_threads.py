"""`edgekit bench --ssh ... --threads 1,2`: one result per thread count from the device, timed there."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.remote


def test_cli_bench_ssh_thread_list(sshd, tiny_onnx):
    proc = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(tiny_onnx), "--ssh", sshd.target,
                           "--ssh-key", str(sshd.key), "--threads", "1,2", "--runs", "5", "--warmup", "0", "--json"],
                          capture_output=True, text=True, env=sshd.env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    one, two = json.loads(proc.stdout)
    assert (one["threads"], two["threads"]) == (1, 2) and one["where"] == two["where"] == f"ssh://{sshd.target}"
    assert one["runs"] == two["runs"] == 5 and one["interleaved_with"] == two["interleaved_with"] == 2
    assert one["speedup_vs_1_thread"] == 1.0
    assert two["speedup_vs_1_thread"] == pytest.approx(one["latency_ms"]["median"] / two["latency_ms"]["median"])
    assert two["thread_settings"]["intra_op_num_threads"] == 2 and two["oversubscribed"] is (2 > two["host"]["cpus_available"])
    assert one["file"] == two["file"] == str(tiny_onnx)

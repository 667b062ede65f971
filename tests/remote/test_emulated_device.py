"""The emulated aarch64 device, reached like a board: parity, accuracy and failures on genuine ARM kernels.

Files are the trained digits MicroNet-M0 (32x32) exported by edgekit (conftest.digits_tflite), run
over the loopback sshd by the aarch64 builds of ai-edge-litert and tflite-runtime 2.14 under
qemu-user. Timings are tiny (2 runs) and only checked to be labelled as emulated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.remote

EDGEKIT = [sys.executable, "-m", "edgekit"]


def run_cli(args, env, cwd=None):
    return subprocess.run(EDGEKIT + args, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def _device_tmpdirs() -> set:
    base = Path(os.environ.get("TMPDIR") or "/tmp")
    return {p.name for p in base.glob("edgekit.*")}


@pytest.mark.parametrize("precision,runtime", [("fp32", "litert"), ("int8", "tflite-runtime")])
def test_bench_parity_on_aarch64(sshd, aarch64_device, digits_tflite, precision, runtime):
    """`edgekit bench FILE --ssh --parity --json` on the emulated device: ARM kernels, parity vs PyTorch."""
    python = aarch64_device.python(runtime)
    proc = run_cli(["bench", str(digits_tflite[precision]), "--ssh", sshd.target, "--ssh-key", str(sshd.key),
                    "--parity", "--runs", "2", "--warmup", "0", "--json"], sshd.env(python))
    assert proc.returncode == 0, proc.stderr
    (r,) = json.loads(proc.stdout)
    assert r["host"]["machine"] == "aarch64" and r["device"]["machine"] == "aarch64"
    assert r["emulated"] and "nothing about a device's latency" in r["latency_note"]  # never a latency
    dist = "ai-edge-litert" if runtime == "litert" else "tflite-runtime"
    installed = aarch64_device.runtimes[runtime]["packages"][dist]
    assert r["runtime_version"] == installed
    assert r["device"]["python"] == str(python)
    assert r["device"]["interpreter"]["runtimes"] == {dist: installed}
    par = r["parity"]
    assert par["n_inputs"] == 2
    if precision == "fp32":
        assert par["rel_max_abs_diff"] <= 1e-4 and par["ok"] is True
        assert par["cosine"] > 0.99999 and par["top1_agreement"] == 1.0
    else:  # INT8 on ARM kernels: judged by cosine and top-1 on calibration-distribution inputs
        assert par["cosine"] > 0.98 and par["top1_agreement"] == 1.0
        assert par["tolerance"] is None
    assert not Path(r["device"]["workdir"]).exists()
    # the human output of the same result (bench's table and notes) says it too
    from rich.console import Console

    from edgekit.cli.bench import results_table
    from edgekit.runtimes.remote.ssh import device_notes

    console = Console(width=250, record=True)
    console.print(results_table([r]))
    title = console.export_text().strip().splitlines()[0].strip()
    assert title.startswith("EMULATED, times are not latencies · litert · 1 thread(s) · ssh://"), title
    notes = device_notes([r])
    assert any(n.startswith("EMULATED (qemu-aarch64-cortex-a72)") for n in notes)
    assert any(n.startswith(f"device python: {python} -> ") and f"runtimes: {dist} {installed}" in n for n in notes)
    assert any(n.startswith("parity on the device, ") and (precision == "int8" or "(bound 1e-04: ok)" in n)
               for n in notes)


def test_eval_int8_on_aarch64_tflite_runtime_within_half_a_point_of_fp32(sshd, aarch64_device, digits_fixture,
                                                                         digits_tflite):
    """INT8 top-1 on the digits test set measured on tflite-runtime 2.14's aarch64 kernels vs FP32 on x86."""
    from edgekit.analysis.accuracy import runner_predict, topk_accuracy
    from edgekit.calibration import load_calibration_set
    from edgekit.models.card import Card
    from edgekit.artifact import read_sidecar
    from edgekit.runtimes.base import open_runner

    test = digits_fixture["test"]
    runner = open_runner(digits_tflite["fp32"])
    card = Card.from_dict(read_sidecar(digits_tflite["fp32"])["card"])
    data = load_calibration_set(test, card)
    fp32 = topk_accuracy(runner_predict(runner, data.x), data.labels)
    proc = run_cli(["eval", str(digits_tflite["int8"]), "--data", str(test), "--ssh", sshd.target, "--ssh-key",
                    str(sshd.key), "--json"], sshd.env(aarch64_device.python("tflite-runtime")))
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["host"]["machine"] == "aarch64" and r["emulated"]
    assert r["runtime"] == "litert" and r["runtime_version"] == "2.14.0"
    assert r["n"] == len(data.labels) == 449
    assert abs(r["top1"] - fp32.top1) <= 0.5, (r["top1"], fp32.top1)
    assert not Path(r["device"]["workdir"]).exists()


def test_a_file_the_device_cannot_load_is_one_line_and_leaves_nothing(sshd, aarch64_device, tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"TFL3" + b"\0" * 60)
    before = _device_tmpdirs()
    proc = run_cli(["bench", str(bad), "--ssh", sshd.target, "--ssh-key", str(sshd.key), "--runs", "1"],
                   sshd.env(aarch64_device.python("litert")))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: on {sshd.target}: litert cannot load broken.tflite"), \
        proc.stderr
    assert _device_tmpdirs() == before


def test_parity_needs_the_reference_inputs(sshd, aarch64_device, digits_tflite, tmp_path):
    import shutil

    bare = tmp_path / "bare.tflite"
    shutil.copy(digits_tflite["fp32"], bare)  # no sidecar, no reference inputs
    before = _device_tmpdirs()
    proc = run_cli(["bench", str(bare), "--ssh", sshd.target, "--ssh-key", str(sshd.key), "--parity"],
                   sshd.env(aarch64_device.python("litert")))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: bare.tflite has no reference inputs (bare.tflite.edgekit.ref.npz): re-export it with this edgekit "
        "(exports write them next to the sidecar) to check parity on a device"]
    assert _device_tmpdirs() == before


def test_no_userland_and_no_qemu_are_one_line(tmp_path):
    proc = run_cli(["device", "show", "--cache", str(tmp_path / "none")], {**os.environ})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: no aarch64 userland in {tmp_path / 'none'}: run `edgekit device setup --cache {tmp_path / 'none'}` "
        f"first"]
    bin_dir = tmp_path / "bin"  # a PATH with python but no qemu-aarch64-static
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    proc = run_cli(["device", "setup", "--cache", str(tmp_path / "c")], {**os.environ, "PATH": str(bin_dir)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: qemu-aarch64-static not found: install it (apt-get install qemu-user-static) to emulate an aarch64 "
        "device"]
    assert not (tmp_path / "c").exists()


def test_setup_is_idempotent_and_refuses_unknown_runtimes(aarch64_device, tmp_path):
    from edgekit.errors import EdgekitError
    from edgekit.runtimes.remote.emulated import setup_device

    again = setup_device(aarch64_device.cache, runtimes=tuple(aarch64_device.runtimes))  # nothing to build
    assert again.runtimes == aarch64_device.runtimes
    wrapper = again.python("litert").read_text()
    assert "-cpu cortex-a72 " in wrapper and "EDGEKIT_EMULATED=qemu-aarch64-cortex-a72" in wrapper  # a Pi 4 core
    with pytest.raises(EdgekitError, match=r"^unknown --cpu 'max'"):
        setup_device(tmp_path, cpu="max")
    with pytest.raises(EdgekitError, match=r"^unknown runtime 'tflite_runtime' \(did you mean: tflite-runtime, "):
        setup_device(tmp_path, runtimes=("tflite_runtime",))
    assert not any(tmp_path.iterdir())


def test_the_guest_sees_an_arm_core_in_proc_and_sys(aarch64_device):
    """Inside the emulated device, /proc/cpuinfo and the MIDR_EL1 sysfs entry describe a Cortex-A72
    (Raspberry Pi 4: implementer 0x41, part 0xd08), as on the board: the aarch64 onnxruntime crashed on
    import without the first, OpenVINO's aarch64 plugin warned "Can't open MIDR_EL1 sysfs entry" without
    the second. Read by the aarch64 Python itself, through qemu-user's -L redirection."""
    import subprocess

    code = ("print(open('/sys/devices/system/cpu/cpu0/regs/identification/midr_el1').read().strip());"
            "print([l for l in open('/proc/cpuinfo') if l.startswith('CPU part')][0].split(':')[1].strip())")
    out = subprocess.run([str(aarch64_device.python("litert")), "-c", code], capture_output=True, text=True,
                         timeout=300, check=True).stdout.split()
    assert out == ["0x00000000410fd083", "0xd08"]

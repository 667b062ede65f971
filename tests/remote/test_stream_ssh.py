"""`edgekit stream FILE --video clip.npy --ssh`: a step model run over a video on the device (the loopback
sshd of conftest.py; the emulated aarch64 board when it is set up), the state carried there; the
outputs that come back equal local streaming."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.remote

USER_MODELS = Path(__file__).resolve().parents[1] / "rewrite" / "stream" / "user_stream_models.py"
EVIL = "a b;$(touch PWNED)-stream.onnx"
_EXPORTS: dict = {}


def run_cli(args, env, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def step_file(tmp_path_factory):
    """The Conv1d user sequence model (dilations 1/2/4, stride 2, residuals) as an FP32 step ONNX
    with its sidecar's `stream` entry, under a file name full of shell metacharacters."""
    from edgekit.artifact import sidecar_path
    from edgekit.exporters.onnx import torch_to_onnx
    from edgekit.models.source import load_model
    from edgekit.rewrite.stream.export import prepare_stream

    torch.manual_seed(0)
    model, card = load_model(f"{USER_MODELS}:build_sequence", input_shape="12,32", condition_user=True)
    se = prepare_stream(model.eval(), card)
    d = tmp_path_factory.mktemp("stream") / "cwd"
    d.mkdir()
    path = d / EVIL
    step = se.step
    torch_to_onnx(step, (torch.zeros((1, *step.input_shape)), *step.zero_states()), path, 18,
                  [i.name for i in se.card.io.inputs], [o.name for o in se.card.io.outputs])
    sidecar_path(path).write_text(json.dumps({"stream": se.info, "card": {}}))
    video = np.random.default_rng(0).standard_normal((12, 40)).astype(np.float32)  # (C, T): 20 steps
    np.save(d / "clip.npy", video)
    _EXPORTS[path] = se  # for the .tflite of the emulated board
    return path


@pytest.fixture(scope="module")
def step_tflite(step_file):
    """The same step model as an FP32 .tflite (what the emulated board's LiteRT runs)."""
    from edgekit.artifact import sidecar_path
    from edgekit.exporters.tflite import litert_convert, rename_io

    se = _EXPORTS[step_file]
    step = se.step
    content = litert_convert(step, (torch.zeros((1, *step.input_shape)), *step.zero_states()))
    path = step_file.parent / "tfl" / EVIL.replace(".onnx", ".tflite")
    path.parent.mkdir()
    path.write_bytes(rename_io(content, [i.name for i in se.card.io.inputs], [o.name for o in se.card.io.outputs]))
    shutil.copy(sidecar_path(step_file), sidecar_path(path))
    shutil.copy(step_file.parent / "clip.npy", path.parent / "clip.npy")
    return path


def _local(path: Path, video: np.ndarray) -> list[np.ndarray]:
    from edgekit.runtimes.stream_runner import StreamRunner

    return StreamRunner(path).run_video(video[None])


def _check(proc, path: Path, work: Path, machine: str | None = None):
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["where"].startswith("ssh://") and r["steps"] == 20 and r["written"] == "out.npz"
    if machine:
        assert r["device"]["machine"] == machine and r["emulated"]
    with np.load(work / "out.npz") as data:
        got = [data[k] for k in data.files]
    want = _local(path, np.load(work / "clip.npy"))
    assert len(got) == len(want) == 1 and got[0].shape == want[0].shape and got[0].shape[2] == 20 - 9
    scale = float(np.abs(want[0]).max())
    assert float(np.abs(got[0] - want[0]).max()) <= 1e-5 * scale
    assert not Path(r["device"]["workdir"]).exists()  # removed on the device
    for place in (work, Path.home(), Path(r["device"]["workdir"]).parent, Path("/")):
        assert not (place / "PWNED").exists(), place  # no shell ran the $(...) of the file name
    return r


def test_stream_over_ssh_equals_local_streaming(sshd, step_file):
    work = step_file.parent
    (work / "out.npz").unlink(missing_ok=True)
    proc = run_cli(["stream", step_file.name, "--video", "clip.npy", "--ssh", sshd.target, "--ssh-key", sshd.key,
                    "-o", "out.npz", "--json"], sshd.env(), cwd=work)
    r = _check(proc, step_file, work)
    assert r["runtime"] == "onnxruntime" and r["device"]["python"] == sys.executable


@pytest.mark.slow  # ~75 s: the .tflite conversion and qemu
def test_stream_over_ssh_on_the_emulated_aarch64_board(sshd, aarch64_device, step_tflite):
    """LiteRT's aarch64 kernels under qemu, reached through the same sshd: ARM equals x86 streaming."""
    work = step_tflite.parent
    proc = run_cli(["stream", step_tflite.name, "--video", "clip.npy", "--ssh", sshd.target, "--ssh-key", sshd.key,
                    "-o", "out.npz", "--json"], sshd.env(aarch64_device.python("litert")), cwd=work)
    r = _check(proc, step_tflite, work, machine="aarch64")
    assert r["runtime"] == "litert"


def test_stream_over_ssh_user_errors_are_one_line(sshd, step_file):
    work = step_file.parent
    np.save(work / "short.npy", np.zeros((12, 1), np.float32))
    for args, needle in (
            (["--video", "short.npy", "--ssh", sshd.target], "fewer than one step"),  # refused before connecting
            (["--video", "clip.npy", "--ssh", "pi@host;rm -rf ~"], "bad --ssh target"),
            (["--video", "clip.npy", "--ssh-key", str(sshd.key)], "--ssh-key needs --ssh")):
        proc = run_cli(["stream", step_file.name, *args], sshd.env(), cwd=work)
        err = proc.stderr.strip()
        assert proc.returncode == 2 and err.startswith("error: ") and "\n" not in err and needle in err, err

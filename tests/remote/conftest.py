"""A real OpenSSH server on 127.0.0.1 for the remote-bench tests, and a tiny ONNX model.

The server is Debian's sshd with a generated host key, a generated user key in an
AuthorizedKeysFile under tmp, on a free high port; it lives for the test session and is killed at
teardown. The device interpreter is always named explicitly: EDGEKIT_SSH_PYTHON is this test
interpreter (numpy, onnxruntime, ...), so a login shell that changes PATH on the device (pyenv init,
conda) cannot change which python runs. `aarch64_device` is the emulated aarch64 device
(edgekit.runtimes.remote.emulated) in EDGEKIT_AARCH64_CACHE (default ~/.cache/edgekit/aarch64), made by
`edgekit device setup` (.ci/run does it); its interpreters are reached through the same sshd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def make_tiny_onnx(path: Path, channels: int = 4, size: int = 16) -> Path:
    """Conv(3→channels, 3x3) → Relu → GlobalAveragePool: a real model, built without torch."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(channels, np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["y"])]
    graph = helper.make_graph(nodes, "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, 1, 1])],
                              initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@dataclass
class Sshd:
    port: int
    user: str
    key: Path
    wrong_key: Path
    known_hosts: Path
    workdir: Path

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def env(self, python: str | os.PathLike | None = None) -> dict:
        """Environment for edgekit processes: pin host keys in a tmp file, not the user's config, and name
        the device's interpreter (this one unless `python` is given)."""
        return {**os.environ, "EDGEKIT_KNOWN_HOSTS": str(self.known_hosts),
                "EDGEKIT_SSH_PYTHON": str(python or sys.executable)}


@pytest.fixture(autouse=True)
def _device_python_is_named(monkeypatch):
    """In-process bench_over_ssh calls use this interpreter on the "device", whatever its login shell does."""
    monkeypatch.setenv("EDGEKIT_SSH_PYTHON", sys.executable)


AARCH64_CACHE = Path(os.environ.get("EDGEKIT_AARCH64_CACHE", "~/.cache/edgekit/aarch64")).expanduser()


@pytest.fixture(scope="session")
def aarch64_device():
    """The emulated aarch64 device; skipped where none was set up, a failure under CI (.ci/run sets it up)."""
    from edgekit.errors import EdgekitError
    from edgekit.runtimes.remote.emulated import open_device

    try:
        return open_device(AARCH64_CACHE)
    except EdgekitError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the emulated aarch64 device is missing under CI: {exc}")
        pytest.skip(f"no emulated aarch64 device: {exc} (bash scripts/install-test-tools.sh sets it up)")


def _ensure_sshd() -> None:
    if os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen"):
        return
    if os.geteuid() == 0 and os.environ.get("CI"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "openssh-server",
                        "openssh-client"], check=True, env=env)
        return
    pytest.skip("needs Debian's openssh-server (/usr/sbin/sshd) and ssh-keygen: bash scripts/install-test-tools.sh "
                "installs them (as root; automatic only under CI)")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> Sshd:
    """edgekit's loopback sshd (edgekit.runtimes.remote.loopback, what `edgekit device serve` runs)."""
    from edgekit.errors import EdgekitError
    from edgekit.runtimes.remote.loopback import start_sshd

    _ensure_sshd()
    d = tmp_path_factory.mktemp("sshd")
    device_path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    try:
        server = start_sshd(d, extra_keys=("wrong_key",), path=device_path)
    except EdgekitError as exc:
        pytest.fail(str(exc))
    try:
        yield Sshd(server.port, server.user, server.key, d / "wrong_key", server.known_hosts, d)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    return make_tiny_onnx(tmp_path_factory.mktemp("models") / "tiny.onnx")


def _arm_matrix_module():
    """benchmarks/arm_matrix.py as a module: the README's ARM matrix, whose rows the tests run."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "arm_matrix.py"
    spec = importlib.util.spec_from_file_location("arm_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def arm_matrix():
    return _arm_matrix_module()


@pytest.fixture(scope="session")
def digits_tflite(digits_fixture, tmp_path_factory):
    """{"fp32" | "fp16" | "int8": path} of the trained digits M0 exported by edgekit (with reference inputs)."""
    f = digits_fixture
    out = tmp_path_factory.mktemp("arm")
    export = _arm_matrix_module().export
    return {p: export(f["model"], p, "tflite", out, input_size=32, weights=f["weights"], num_classes=10,
                      calib=f["train"], calib_size=64) for p in ("fp32", "fp16", "int8")}

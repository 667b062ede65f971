"""The latency table on the emulated aarch64 device over ssh, end to end: every entry marked emulated,
and predict refuses to use it as a latency (slow: tflite exports + qemu timing)."""

import os

import pytest

from tests.remote.conftest import _ensure_sshd, aarch64_device  # noqa: F401 - the shared fixtures
from tests.search.conftest import ONE_STAGE, write_space

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    import sys
    from pathlib import Path

    from edgekit.runtimes.remote.loopback import start_sshd

    _ensure_sshd()
    d = tmp_path_factory.mktemp("sshd")
    server = start_sshd(d, path=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    try:
        yield server
    finally:
        server.stop()


def test_emulated_table_is_marked_and_refused(loopback, aarch64_device, tmp_path, monkeypatch):  # noqa: F811
    from edgekit.errors import EdgekitError
    from edgekit.search.lut import build_lut
    from edgekit.search.predict import load_table, predict_blocks
    from edgekit.search.space import load_space
    from edgekit.sweep.grid import Device

    monkeypatch.setenv("EDGEKIT_KNOWN_HOSTS", str(loopback.known_hosts))
    monkeypatch.setenv("EDGEKIT_SSH_PYTHON", str(aarch64_device.python("litert")))
    space = load_space(write_space(tmp_path / "space.toml", ONE_STAGE))
    dev = Device("emu", "ssh", address=f"{loopback.user}@127.0.0.1:{loopback.port}", key=str(loopback.key))
    s = build_lut(space, tmp_path / "lut", target="tflite", threads=(1,), device_name="emu", device=dev, runs=5,
                  warmup=1, calibrate=2)
    assert s["measured"] == 7
    with pytest.raises(EdgekitError, match="every entry is emulated"):
        load_table(tmp_path / "lut", "emu")
    table = load_table(tmp_path / "lut", "emu", allow_emulated=True)
    assert len(table.blocks) == 5 and len(table.models) == 2
    for c in table.conditions():
        assert c["emulated"] and c["machine"] == "aarch64" and c["runtime"] == "litert" and c["where"].startswith("ssh://")
    assert predict_blocks(table, space.architecture((1,)), 1)["predicted_ms"] > 0

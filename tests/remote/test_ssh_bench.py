"""`edgekit bench --ssh` end to end against the real OpenSSH server of conftest.sshd."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.runtimes.remote.ssh import SshTarget, bench_over_ssh, parse_target

pytestmark = pytest.mark.remote

EDGEKIT = [sys.executable, "-m", "edgekit"]


def run_cli(args, env, cwd=None):
    return subprocess.run(EDGEKIT + args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_bench_over_ssh_returns_the_bench_schema_and_cleans_up(sshd, tiny_onnx):
    (result,) = bench_over_ssh(sshd.target, [tiny_onnx], "auto", 1, 2, 20, None, str(sshd.key),
                               known_hosts=sshd.known_hosts)
    lat = result["latency_ms"]
    assert result["kind"] == "bench" and result["where"] == f"ssh://{sshd.target}"
    assert result["runtime"] == "onnxruntime" and result["runs"] == 20 and result["warmup"] == 2
    assert len(result["samples_ms"]) == 20
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert result["init_ms"] > 0
    assert result["inputs"] == [{"name": "x", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    assert result["file"] == str(tiny_onnx) and result["size_bytes"] == tiny_onnx.stat().st_size
    device = result["device"]
    assert device["transport"] == "ssh" and device["target"] == sshd.target
    workdir = Path(device["workdir"])
    assert workdir.name.startswith("edgekit.")
    # the "device" is this machine: its temporary directory must be gone
    assert not workdir.exists()
    # the interpreter is the one the tests name (EDGEKIT_SSH_PYTHON), and it reports its runtimes
    import onnxruntime

    assert device["python"] == sys.executable
    assert device["interpreter"]["executable"] == sys.executable
    assert device["interpreter"]["runtimes"]["onnxruntime"] == onnxruntime.__version__
    assert result["emulated"] is None and "latency_note" not in result


def test_cli_bench_ssh_json(sshd, tiny_onnx):
    proc = run_cli(["bench", str(tiny_onnx), "--ssh", sshd.target, "--ssh-key", str(sshd.key), "--runs", "5",
                    "--warmup", "1", "--json"], sshd.env())
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["runs"] == 5 and result["latency_ms"]["median"] > 0
    assert not Path(result["device"]["workdir"]).exists()


def test_cli_bench_ssh_names_the_device_interpreter_and_its_runtimes(sshd, tiny_onnx):
    import onnxruntime

    proc = run_cli(["bench", str(tiny_onnx), "--ssh", sshd.target, "--ssh-key", str(sshd.key), "--runs", "2",
                    "--warmup", "0"], sshd.env())
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("device python:"))
    assert line.startswith(f"device python: {sys.executable} -> {sys.executable} (Python ")
    assert f"onnxruntime {onnxruntime.__version__}" in line
    assert "EMULATED" not in proc.stdout


def test_wrong_key_is_one_line_exit_2(sshd, tiny_onnx):
    proc = run_cli(["bench", str(tiny_onnx), "--ssh", sshd.target, "--ssh-key", str(sshd.wrong_key), "--runs", "2"],
                   sshd.env())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ssh authentication failed"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_port_is_one_line_exit_2(sshd, tiny_onnx):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli(["bench", str(tiny_onnx), "--ssh", f"{sshd.user}@127.0.0.1:{port}", "--ssh-key", str(sshd.key)],
                   sshd.env())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: cannot reach {sshd.user}@127.0.0.1:{port}: connection refused on port {port} "
                     f"(is sshd running there?)"]


def test_shell_metacharacters_in_the_file_name_reach_the_device_as_a_name(sshd, tiny_onnx, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    evil = work / "a b;$(touch PWNED).onnx"
    shutil.copy(tiny_onnx, evil)
    proc = run_cli(["bench", evil.name, "--ssh", sshd.target, "--ssh-key", str(sshd.key), "--runs", "3",
                    "--warmup", "0", "--json"], sshd.env(), cwd=work)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["name"] == "a b;$(touch PWNED).onnx" and result["model"] is None
    assert result["latency_ms"]["median"] > 0
    workdir = Path(result["device"]["workdir"])
    # no shell ran the $(...): no PWNED anywhere it could have landed
    for place in (work, Path.home(), workdir.parent, Path("/")):
        assert not (place / "PWNED").exists(), place
    assert sorted(p.name for p in work.iterdir()) == [evil.name]


def test_python_missing_on_the_device(sshd, tiny_onnx):
    with pytest.raises(EdgekitError, match=r"^/nonexistent/python3 not found on .*: install Python 3"):
        bench_over_ssh(sshd.target, [tiny_onnx], key=str(sshd.key), known_hosts=sshd.known_hosts,
                       python="/nonexistent/python3", runs=1)


def test_runtime_missing_on_the_device(sshd, tiny_onnx, tmp_path):
    # A device whose python has no site-packages: no numpy, no runtime.
    bare = tmp_path / "bare-python"
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    bare.chmod(0o755)
    with pytest.raises(EdgekitError) as err:
        bench_over_ssh(sshd.target, [tiny_onnx], key=str(sshd.key), known_hosts=sshd.known_hosts,
                       python=str(bare), runs=1)
    msg = str(err.value)
    assert msg.startswith(f"on {sshd.target}: no runtime for .onnx files is installed"), msg
    assert "\n" not in msg


def test_missing_file_and_key_are_input_errors(sshd, tiny_onnx, tmp_path):
    with pytest.raises(EdgekitError, match="model file not found"):
        bench_over_ssh(sshd.target, [tmp_path / "nope.onnx"], key=str(sshd.key))
    with pytest.raises(EdgekitError, match="ssh key not found"):
        bench_over_ssh(sshd.target, [tiny_onnx], key=str(tmp_path / "no_key"))


@pytest.mark.parametrize("text", ["pi", "pi@", "@host", "pi@host:0", "pi@host:65536", "pi@host:22x",
                                  "pi@-oProxyCommand=touch", "-oProxyCommand=x@host", "pi@host;rm -rf ~",
                                  "pi@$(id)", "pi@host name", "p i@host", "pi@[::zz]", "pi@host:22:33", ""])
def test_bad_targets_are_refused(text):
    with pytest.raises(EdgekitError, match="bad --ssh target"):
        parse_target(text)


@pytest.mark.parametrize("text,expected", [
    ("pi@raspberrypi", SshTarget("pi", "raspberrypi", 22)),
    ("pi@raspberrypi.local:2222", SshTarget("pi", "raspberrypi.local", 2222)),
    ("root@192.168.1.20", SshTarget("root", "192.168.1.20", 22)),
    ("ci_user-1@[::1]:2200", SshTarget("ci_user-1", "::1", 2200)),
])
def test_good_targets_parse(text, expected):
    assert parse_target(text) == expected
    assert str(expected) == text


def test_cli_bad_target_exit_2(tiny_onnx):
    proc = run_cli(["bench", str(tiny_onnx), "--ssh", "pi@host;reboot"], {**os.environ})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: bad --ssh target 'pi@host;reboot': 'host;reboot' is not a host name or IP address; "
        "expected user@host[:port], e.g. pi@raspberrypi.local or pi@192.168.1.20:2222"]


def test_openvino_ir_travels_with_its_weights(sshd, tiny_onnx, tmp_path):
    import openvino as ov

    xml = tmp_path / "tiny ir.xml"
    ov.save_model(ov.convert_model(str(tiny_onnx)), str(xml))
    assert xml.with_suffix(".bin").is_file()
    (result,) = bench_over_ssh(sshd.target, [xml], "auto", 1, 1, 5, None, str(sshd.key), known_hosts=sshd.known_hosts)
    assert result["runtime"] == "openvino" and result["runs"] == 5 and result["latency_ms"]["median"] > 0
    assert result["size_bytes"] == xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
    assert not Path(result["device"]["workdir"]).exists()
    # an .xml without its .bin is refused before anything is copied
    xml.with_suffix(".bin").unlink()
    with pytest.raises(EdgekitError, match=r"tiny ir.xml needs its weights file tiny ir.bin next to it"):
        bench_over_ssh(sshd.target, [xml], key=str(sshd.key), known_hosts=sshd.known_hosts)

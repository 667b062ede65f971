"""`edgekit sweep --ray`: a real two-node Ray cluster on 127.0.0.1 (head holding device "head", a
worker node holding device "w2"); the worker is killed (SIGKILL of its whole process group) once the
sweep is under way and a new worker with the same device joins: every cell is recorded exactly once,
and both nodes did timed work."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import raw_keys, write_sweep

ray = pytest.importorskip("ray")
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """`ray start --block` processes, each in its own session so a node is killed as a whole."""

    def __init__(self, tmp: Path):
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = tmp
        self.env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "1000",
                                 "RAY_health_check_failure_threshold": "3", "RAY_health_check_timeout_ms": "1000"}
        self.procs: list[subprocess.Popen] = []

    def start(self, *args) -> subprocess.Popen:
        log = open(self.temp / f"node{len(self.procs)}.log", "w")
        proc = subprocess.Popen([RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                                 "--disable-usage-stats", *args], stdout=log, stderr=subprocess.STDOUT,
                                env=self.env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def head(self):
        return self.start("--head", "--port", str(self.port), "--include-dashboard=false", "--temp-dir",
                          str(self.temp), "--resources", json.dumps({"device:head": 1}))

    def worker(self):
        return self.start("--address", self.address, "--resources", json.dumps({"device:w2": 1}))

    def wait_for(self, resource: str, timeout: float = 120) -> None:
        code = ("import ray,sys,time\nray.init(address=sys.argv[1],logging_level='ERROR')\n"
                "t=time.time()\nwhile ray.cluster_resources().get(sys.argv[2],0)<1 and time.time()-t<float(sys.argv[3]):"
                " time.sleep(0.2)\nsys.exit(0 if ray.cluster_resources().get(sys.argv[2],0)>=1 else 1)\n")
        rc = subprocess.run([sys.executable, "-c", code, self.address, resource, str(timeout)], env=self.env,
                            capture_output=True, timeout=timeout + 60).returncode
        assert rc == 0, f"{resource} did not join the Ray cluster"

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            self.kill(proc)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(Path(f"/tmp/ek-ray-{os.getpid()}"))  # short: Ray's socket paths must fit in 107 bytes
    c.temp.mkdir(exist_ok=True)
    try:
        c.head()
        c.wait_for("device:head")
        c.worker()
        c.wait_for("device:w2")
        yield c
    finally:
        c.stop()
        import shutil

        shutil.rmtree(c.temp, ignore_errors=True)


def test_ray_sweep_survives_a_killed_worker(tmp_path, sweep_data, cluster):
    sweep = write_sweep(tmp_path / "sweep.toml", sweep_data, models=["narrow"], sizes=(32, 48),
                        targets=("onnx", "openvino"), runs=10,
                        devices={"head": {"kind": "local"}, "w2": {"kind": "local"}})
    out = tmp_path / "results"
    driver = subprocess.Popen([sys.executable, "-m", "edgekit", "sweep", str(sweep), "-o", str(out), "--ray",
                               cluster.address, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=cluster.env)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and driver.poll() is None:
        if results.is_file() and results.read_text().strip():
            break
        time.sleep(0.05)
    assert driver.poll() is None, driver.communicate()
    first_worker = cluster.procs[1]
    cluster.kill(first_worker)  # mid-sweep: exports and timed runs are still in flight
    at_kill = len(raw_keys(out))
    time.sleep(3)
    cluster.worker()  # the device's node comes back; its pending bench tasks run there
    stdout, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stderr
    summary = json.loads(stdout)
    assert at_kill < 8 and (summary["cells"], summary["ok"], summary["failed"]) == (8, 8, 0)
    keys = raw_keys(out)
    assert len(keys) == 8 and len(set(keys)) == 8
    records = [json.loads(line) for line in results.read_text().splitlines()]
    bench_nodes = {r["cell"]["device"]: set() for r in records}
    for r in records:
        bench_nodes[r["cell"]["device"]].add(r["ray"]["bench_node"])
        assert r["accuracy"]["source"] == "measured" and r["bench"]["runs"] == 10
    assert len(bench_nodes["head"]) == 1
    assert not bench_nodes["head"] & bench_nodes["w2"]  # the w2 cells ran on worker nodes only
    # the driver's cache holds every export: a re-run (here without Ray) redoes nothing
    again = json.loads(subprocess.run([sys.executable, "-m", "edgekit", "sweep", str(sweep), "-o", str(out), "--json",
                                       "--dry-run"], capture_output=True, text=True).stdout)
    assert (again["cells_done"], again["exports_cached"]) == (8, 4)

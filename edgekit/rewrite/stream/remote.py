"""`edgekit stream FILE --video clip.npy --ssh user@host`: the step model runs over the video on the
device, which carries the state from step to step; only the aligned outputs come back.

The machinery is `edgekit bench --ssh`'s (edgekit.runtimes.remote.ssh): one `ssh` process per step with
an argument list, a remote command built from `shlex.quote`d pieces only, the device's `mktemp -d`
workdir removed in a `finally`. Uploaded: device_bench.py (its runtime loaders), device_stream.py
(the stepping loop), the step file with its sidecar (the `stream` entry), the video as `x` in an .npz.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from edgekit.errors import EdgekitError

SCRIPT = Path(__file__).resolve().parent / "device_stream.py"


def stream_over_ssh(target: str, file, video, runtime: str = "auto", key: str | None = None, *,
                    python: str | None = None, known_hosts: Path | None = None, threads: int = 1,
                    timeout: float | None = None):
    """(the aligned outputs, one array per output, as `StreamRunner.run_video` gives them locally;
    the device's report: runtime, version, steps, ms_per_step, host, interpreter, emulated, device)."""
    import json

    from edgekit.runtimes.remote import ssh

    t = ssh.parse_target(target)
    path = Path(file)
    if not path.is_file():
        raise EdgekitError(f"model file not found: {path}")
    files = ssh.artifact_files(path)
    if len(files) < 2 or not files[-1].name.endswith(".edgekit.json"):
        raise EdgekitError(f"{path} has no sidecar next to it: the device needs its `stream` entry")
    if key is not None:
        key = str(Path(key).expanduser())
        if not Path(key).is_file():
            raise EdgekitError(f"ssh key not found: {key}")
    python = python or os.environ.get("EDGEKIT_SSH_PYTHON") or ssh.DEFAULT_PYTHON
    session = ssh._Session(t, key, known_hosts)
    q = shlex.quote
    workdir = ssh._make_workdir(session, python, timeout)
    try:
        for local in [ssh.device_bench_script(), SCRIPT, *files]:
            with open(local, "rb") as fh:
                ssh._upload(session, python, workdir, local.name, fh, timeout)
        video_in, out = ssh._stage_inputs(session, python, workdir, path.name, video, timeout)
        args = [python, SCRIPT.name, path.name, video_in, out, "--runtime", runtime, "--threads", str(threads)]
        proc = session.run(f"cd {q(workdir)} && " + " ".join(q(a) for a in args), timeout=timeout)
        if proc.returncode != 0:
            raise ssh._device_error(t, proc, python, f"{SCRIPT.name} {path.name}")
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), "{}")
        report = json.loads(line)
        ys = ssh._fetch_outputs(session, python, workdir, path.name, timeout)
    finally:
        ssh._cleanup(session, workdir)
    report["device"] = {"transport": "ssh", "target": str(t), "workdir": workdir, "python": python}
    return [ys[f"y_{j}"] for j in range(len(ys))], report

"""Benchmark on a device over SSH: copy the artifact and device_bench.py over, run, bring back JSON.

The device needs only python3, numpy and one runtime (device_bench.py imports nothing else).
Every step is a separate `ssh` process started with an argument list (never a local shell); the
command string the REMOTE shell sees is built from `shlex.quote`d pieces only, so file names
such as `a b;$(touch X).onnx` reach the device as plain names. The temporary directory made by
`mktemp -d` on the device is removed in a `finally`, whatever failed.

Authentication is by key only (BatchMode: ssh never prompts). Host keys are accepted on first
contact and pinned in edgekit's own known_hosts file (EDGEKIT_KNOWN_HOSTS, default
~/.config/edgekit/known_hosts), so a device that changes its key later is refused.
EDGEKIT_SSH_PYTHON names the interpreter on the device (default python3; e.g. a venv's python).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import EdgekitError

CONNECT_TIMEOUT_S = 10
DEFAULT_PYTHON = "python3"
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_TARGET = re.compile(r"(?P<user>[^@]*)@(?:\[(?P<ip6>[^\]]*)\]|(?P<host>[^:\[\]]*))(?::(?P<port>[^:]*))?")
_MKTEMP_OUT = re.compile(r"/[A-Za-z0-9._/-]+")
_EXIT_NOT_FOUND = 127
_EXIT_SSH = 255


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: int = 22

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}" + (f":{self.port}" if self.port != 22 else "")

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}"


def parse_target(text: str) -> SshTarget:
    """`user@host[:port]` (IPv6 as `user@[::1]:2222`), validated strictly: a host name or IP
    address, a POSIX user name, a port in 1–65535; nothing that ssh could read as an option."""
    hint = "expected user@host[:port], e.g. pi@raspberrypi.local or pi@192.168.1.20:2222"
    m = _TARGET.fullmatch(text or "")
    if not m:
        raise EdgekitError(f"bad --ssh target {text!r}: {hint}")
    user, host, port_s = m.group("user"), m.group("ip6") or m.group("host"), m.group("port")
    if not _USER.fullmatch(user):
        raise EdgekitError(f"bad --ssh target {text!r}: user name {user!r} is not a valid user name; {hint}")
    if m.group("ip6") is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise EdgekitError(f"bad --ssh target {text!r}: [{host}] is not an IPv6 address") from None
    elif not host or not _HOSTNAME.fullmatch(host) or len(host) > 253:
        raise EdgekitError(f"bad --ssh target {text!r}: {host!r} is not a host name or IP address; {hint}")
    port = 22
    if port_s is not None:
        if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
            raise EdgekitError(f"bad --ssh target {text!r}: port {port_s!r} is not a number in 1-65535")
        port = int(port_s)
    return SshTarget(user, host, port)


def known_hosts_file() -> Path:
    env = os.environ.get("EDGEKIT_KNOWN_HOSTS")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "edgekit" / "known_hosts"


def ssh_command(target: SshTarget, key: str | None, remote: str, known_hosts: Path,
                connect_timeout: int = CONNECT_TIMEOUT_S) -> list[str]:
    """The argument list that runs `remote` (already quoted) through the device's shell."""
    ssh = shutil.which("ssh")
    if ssh is None:
        raise EdgekitError("ssh client not found: install OpenSSH (e.g. apt-get install openssh-client)")
    args = [ssh, "-T", "-p", str(target.port),
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
            "-o", "LogLevel=ERROR"]
    if key is not None:
        args += ["-i", key, "-o", "IdentitiesOnly=yes"]
    return args + ["--", target.destination, remote]


class _Session:
    """Runs quoted commands on one target; turns ssh's own failures into one-line errors."""

    def __init__(self, target: SshTarget, key: str | None, known_hosts: Path | None = None):
        self.target = target
        self.key = key
        self.known_hosts = known_hosts or known_hosts_file()
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)

    def run(self, remote: str, stdin=None, timeout: float | None = None, binary: bool = False) \
            -> subprocess.CompletedProcess:
        """Run `remote` there; `binary`: stdout as bytes (stderr is always text)."""
        cmd = ssh_command(self.target, self.key, remote, self.known_hosts)
        try:
            proc = subprocess.run(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"{self.target}: no answer within {timeout:.0f} s") from None
        proc.stderr = proc.stderr.decode("utf-8", "replace")
        if not binary:
            proc.stdout = proc.stdout.decode("utf-8", "replace")
        if proc.returncode == _EXIT_SSH:
            raise EdgekitError(self._ssh_failure(proc.stderr))
        return proc

    def _ssh_failure(self, stderr: str) -> str:
        t, err = self.target, stderr.strip()
        low = err.lower()
        last = err.splitlines()[-1] if err else "ssh exited with 255 and printed nothing"
        if "permission denied" in low or "too many authentication failures" in low:
            which = f"the key {self.key}" if self.key else "your default keys"
            return (f"ssh authentication failed for {t}: the device refused {which}; "
                    f"pass --ssh-key with a key listed in the device's ~/.ssh/authorized_keys")
        if "connection refused" in low:
            return f"cannot reach {t}: connection refused on port {t.port} (is sshd running there?)"
        if "timed out" in low:
            return f"cannot reach {t}: connection timed out after {CONNECT_TIMEOUT_S} s (wrong address, or a firewall?)"
        if "could not resolve hostname" in low or "name or service not known" in low:
            return f"cannot resolve host {t.host!r}: check the name (or use its IP address)"
        if "no route to host" in low or "network is unreachable" in low:
            return f"cannot reach {t}: no route to host"
        if "host identification has changed" in low or "host key verification failed" in low:
            return (f"the host key of {t} does not match the one pinned in {self.known_hosts}; if the device "
                    f"was reinstalled, remove its line there (ssh-keygen -R '[{t.host}]:{t.port}' -f ...)")
        if "load key" in low or "invalid format" in low or "bad permissions" in low:
            return f"ssh cannot use the key {self.key}: {last}"
        return f"ssh to {t} failed: {last}"


def _device_error(target: SshTarget, proc: subprocess.CompletedProcess, python: str, what: str) -> EdgekitError:
    """One line for a failed command on the device (device_bench prints `error: ...` and exits 2)."""
    lines = [l.strip() for l in (proc.stderr or "").splitlines() if l.strip()]
    if proc.returncode == _EXIT_NOT_FOUND and not what.startswith("copying"):
        return EdgekitError(f"{python} not found on {target}: install Python 3 with numpy and a runtime there "
                            f"(or set EDGEKIT_SSH_PYTHON to its interpreter)")
    bench_errors = [l[len("error: "):] for l in lines if l.startswith("error: ")]
    if bench_errors:
        return EdgekitError(f"on {target}: {bench_errors[-1]}")
    missing = next((l for l in reversed(lines) if l.startswith("ModuleNotFoundError")), None)
    if missing:
        return EdgekitError(f"on {target}: {missing.split(':', 1)[1].strip()}: "
                            f"pip install numpy and a runtime (onnxruntime, ai-edge-litert or openvino) there")
    detail = lines[-1] if lines else f"exit code {proc.returncode}"
    return EdgekitError(f"{what} failed on {target}: {detail[:200]}")


def artifact_files(path: Path) -> list[Path]:
    """The model, the .bin next to an OpenVINO .xml, and the sidecar when there is one."""
    from edgekit.artifact import sidecar_path

    files = [path]
    if path.suffix.lower() == ".xml":
        weights = path.with_suffix(".bin")
        if not weights.is_file():
            raise EdgekitError(f"{path} needs its weights file {weights.name} next to it")
        files.append(weights)
    side = sidecar_path(path)
    if side.is_file():
        files.append(side)
    return files


def device_bench_script() -> Path:
    script = Path(__file__).resolve().parent.parent / "device_bench.py"
    if not script.is_file():
        raise EdgekitError(f"device_bench.py is missing from this edgekit install ({script})")
    return script


def bench_over_ssh(target: str, files: list[Path], runtime: str = "auto", threads: int | list[int] = 1, warmup: int = 10,
                   runs: int = 100, seconds: float | None = None, key: str | None = None, *,
                   python: str | None = None, known_hosts: Path | None = None,
                   timeout: float | None = None, parity: bool = False) -> list[dict]:
    """Benchmark each file on the device `target` ("user@host[:port]") with device_bench.py.

    Returns one bench dict per file (the schema of edgekit.runtimes.bench, with `where` =
    "ssh://user@host[:port]", `host` the device's, and `device` = {transport, target, workdir,
    python}); with a list of thread counts, one dict per file and count (device_bench.py --threads 1,2,4:
    the counts timed interleaved on the device). Raises EdgekitError (one line) for a bad target, a missing file or key, an
    unreachable device, refused authentication, or python/numpy/the runtime missing there.

    `device.interpreter` says which python ran on the device and which runtimes (with versions) it
    has; `emulated` (and `latency_note`) mark times taken under emulation, which are not latencies.
    `parity`: the file's reference inputs (analysis.reference) are also run on the device and its
    outputs compared with PyTorch's: `parity` {rel_max_abs_diff, cosine, top1_agreement, ...}.
    """
    t = parse_target(target)
    paths = [Path(f) for f in files]
    if not paths:
        raise EdgekitError("no model files given")
    for p in paths:
        if not p.is_file():
            raise EdgekitError(f"model file not found: {p}")
    uploads = {p: artifact_files(p) for p in paths}
    names = [f.name for fs in uploads.values() for f in fs]
    if len(set(names)) != len(names):
        raise EdgekitError("two of the files have the same name; benchmark them in separate runs")
    references = {}
    if parity:
        from edgekit.analysis.reference import load_reference

        references = {p: load_reference(p) for p in paths}  # refused before anything reaches the device
    if key is not None:
        key = str(Path(key).expanduser())
        if not Path(key).is_file():
            raise EdgekitError(f"ssh key not found: {key}")
    python = python or os.environ.get("EDGEKIT_SSH_PYTHON") or DEFAULT_PYTHON
    script = device_bench_script()
    session = _Session(t, key, known_hosts)
    q = shlex.quote
    workdir = _make_workdir(session, python, timeout)

    results = []
    try:
        for local in [script, *[f for fs in uploads.values() for f in fs]]:
            with open(local, "rb") as fh:
                _upload(session, python, workdir, local.name, fh, timeout)
        for p in paths:
            counts = ",".join(map(str, threads)) if isinstance(threads, (list, tuple)) else str(threads)
            args = [python, "device_bench.py", p.name, "--runtime", runtime, "--threads", counts,
                    "--warmup", str(warmup), "--runs", str(runs), "--json"]
            if seconds is not None:
                args += ["--seconds", repr(float(seconds))]
            if p in references:
                args += ["--predict", *_stage_inputs(session, python, workdir, p.name, reference_inputs(references[p]),
                                                     timeout)]
            proc = session.run(f"cd {q(workdir)} && " + " ".join(q(a) for a in args), timeout=timeout)
            if proc.returncode != 0:
                raise _device_error(t, proc, python, f"device_bench.py {p.name}")
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{") and '"latency_ms"' in ln]
            found = [_result(t, p, ln, workdir, python) for ln in lines or [proc.stdout]]  # one per thread count
            if p in references:
                from edgekit.analysis.reference import compare_outputs

                y = _fetch_outputs(session, python, workdir, p.name, timeout)
                check = compare_outputs(references[p], y, found[0].get("precision"))
                for r in found:
                    r["parity"] = check
            results += found
    finally:
        _cleanup(session, workdir)
    return results


def predict_over_ssh(target: str, file: Path, x, runtime: str = "auto", key: str | None = None, *,
                     python: str | None = None, known_hosts: Path | None = None, threads: int = 1,
                     timeout: float | None = None):
    """Run `file` on the device over the samples `x` (N, *the model's input shape, its dtype) and
    return (outputs of shape (N, *output shape), the device's report: runtime, version, host,
    interpreter, emulated). What `edgekit eval --ssh` measures accuracy with."""
    t = parse_target(target)
    path = Path(file)
    if not path.is_file():
        raise EdgekitError(f"model file not found: {path}")
    if key is not None:
        key = str(Path(key).expanduser())
        if not Path(key).is_file():
            raise EdgekitError(f"ssh key not found: {key}")
    python = python or os.environ.get("EDGEKIT_SSH_PYTHON") or DEFAULT_PYTHON
    session = _Session(t, key, known_hosts)
    q = shlex.quote
    workdir = _make_workdir(session, python, timeout)
    try:
        for local in [device_bench_script(), *artifact_files(path)]:
            with open(local, "rb") as fh:
                _upload(session, python, workdir, local.name, fh, timeout)
        io = _stage_inputs(session, python, workdir, path.name, x, timeout)
        args = [python, "device_bench.py", path.name, "--runtime", runtime, "--threads", str(threads),
                "--runs", "0", "--predict", *io]
        proc = session.run(f"cd {q(workdir)} && " + " ".join(q(a) for a in args), timeout=timeout)
        if proc.returncode != 0:
            raise _device_error(t, proc, python, f"device_bench.py {path.name}")
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), "{}")
        report = json.loads(line)
        y = _fetch_outputs(session, python, workdir, path.name, timeout)
    finally:
        _cleanup(session, workdir)
    report["device"] = {"transport": "ssh", "target": str(t), "workdir": workdir, "python": python}
    return y, report


def _make_workdir(session: _Session, python: str, timeout) -> str:
    """Check that the device's python exists, then `mktemp -d` there; the directory's path."""
    q = shlex.quote
    probe = (f"command -v {q(python)} >/dev/null 2>&1 || exit {_EXIT_NOT_FOUND}; "
             f'mktemp -d "${{TMPDIR:-/tmp}}/edgekit.XXXXXXXX"')
    proc = session.run(probe, timeout=timeout)
    if proc.returncode != 0:
        raise _device_error(session.target, proc, python, "mktemp -d")
    workdir = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if not _MKTEMP_OUT.fullmatch(workdir):
        raise EdgekitError(f"unexpected answer from mktemp on {session.target}: {workdir[:80]!r}")
    return workdir


def _upload(session: _Session, python: str, workdir: str, name: str, fh, timeout) -> None:
    proc = session.run(f"cat > {shlex.quote(workdir + '/' + name)}", stdin=fh, timeout=timeout)
    if proc.returncode != 0:
        raise _device_error(session.target, proc, python, f"copying {name}")


def reference_inputs(arrays: dict):
    """What a device runs of a reference set: `x`, or the `x:NAME` arrays of a model with several inputs."""
    if "x" in arrays:
        return arrays["x"]
    return {k: v for k, v in arrays.items() if k.startswith("x:") or k == "input_names"}


def write_predict_inputs(dest, x) -> None:
    """The --predict input .npz of device_bench.py at `dest` (a path or a binary file): `x` (N, ...) of a
    one-input file, or the x:NAME arrays + input_names of several (reference_inputs)."""
    import numpy as np

    if isinstance(x, dict):
        np.savez(dest, **{k: np.ascontiguousarray(v) for k, v in x.items()})
    else:
        np.savez(dest, x=np.ascontiguousarray(x))


def read_predictions(data) -> object:
    """device_bench.py's --predict output (an open .npz): `y` of a one-output file, else {y_0: ..., y_1: ...}."""
    return data["y"] if "y" in data.files else {k: data[k] for k in data.files}


def _stage_inputs(session: _Session, python: str, workdir: str, name: str, x, timeout) -> list[str]:
    """Copy the samples `x` to the device as `<name>.in.npz`; the --predict arguments (in, out)."""
    import io
    import tempfile

    import numpy as np

    buf = io.BytesIO()
    write_predict_inputs(buf, x)
    with tempfile.TemporaryFile() as fh:
        fh.write(buf.getvalue())
        fh.seek(0)
        _upload(session, python, workdir, name + ".in.npz", fh, timeout)
    return [name + ".in.npz", name + ".out.npz"]


def _fetch_outputs(session: _Session, python: str, workdir: str, name: str, timeout):
    import io

    import numpy as np

    proc = session.run(f"cat {shlex.quote(workdir + '/' + name + '.out.npz')}", timeout=timeout, binary=True)
    if proc.returncode != 0:
        raise _device_error(session.target, proc, python, f"fetching the outputs of {name}")
    try:
        with np.load(io.BytesIO(proc.stdout)) as data:
            return read_predictions(data)
    except (OSError, ValueError, KeyError) as exc:
        raise EdgekitError(f"the outputs of {name} from {session.target} are unreadable: {exc}") from None


def device_notes(results: list[dict]) -> list[str]:
    """Lines for the human output of `bench --ssh`: the device's interpreter and runtimes, the
    emulation note, and parity against PyTorch per file."""
    lines, seen = [], set()
    for r in results:
        interp = (r.get("device") or {}).get("interpreter") or {}
        key = (interp.get("executable"), r.get("where"))
        if interp and key not in seen:
            seen.add(key)
            have = ", ".join(f"{k} {v}" for k, v in (interp.get("runtimes") or {}).items()) or "none"
            lines.append(f"device python: {(r.get('device') or {}).get('python')} -> {interp.get('executable')} "
                         f"(Python {interp.get('python')}, numpy {interp.get('numpy')}); runtimes: {have}")
        if r.get("emulated") and "emulated" not in seen:
            seen.add("emulated")
            lines.append(f"EMULATED ({r['emulated']}): {r.get('latency_note') or 'times are not latencies'}")
        dele = r.get("delegation")
        if dele and ("delegation", r.get("file")) not in seen:
            seen.add(("delegation", r.get("file")))
            left = ", ".join(f"{k} {v}" for k, v in dele["default_kernel_by_type"].items()) or "none"
            lines.append(f"{r.get('name') or r.get('file')} on {r['runtime']} {r.get('runtime_version')}: "
                         f"{dele['delegate']} {dele['partitions']} partition(s), {dele['delegated_ops']} ops delegated, "
                         f"{dele['default_kernel_ops']} on default kernels ({left})")
        par = r.get("parity")
        if par and r.get("file") not in seen:
            seen.add(r.get("file"))
            bound = f" (bound {par['tolerance']:.0e}: {'ok' if par['ok'] else 'EXCEEDED'})" if par.get("tolerance") \
                else ""
            x86 = par.get("vs_export_runtime") or {}
            lines.append(f"parity on the device, {r.get('name') or r.get('file')}: max |diff| "
                         f"{par['rel_max_abs_diff']:.2e} x output scale{bound}, cosine {par['cosine']:.6f}, "
                         f"top-1 agreement {100 * par['top1_agreement']:.0f}% over {par['n_inputs']} inputs"
                         + (f"; vs the export machine's runtime {x86['rel_max_abs_diff']:.2e} x scale" if x86 else ""))
    return lines


def _cleanup(session: _Session, workdir: str) -> None:
    try:
        proc = session.run(f"rm -rf -- {shlex.quote(workdir)}", timeout=60)
        ok = proc.returncode == 0
    except EdgekitError:
        ok = False
    if not ok:
        print(f"warning: could not remove {workdir} on {session.target}", file=sys.stderr)


def _result(t: SshTarget, local: Path, stdout: str, workdir: str, python: str) -> dict:
    line = next((l for l in reversed(stdout.splitlines()) if l.startswith("{")), None)
    try:
        device = json.loads(line) if line else None
    except json.JSONDecodeError:
        device = None
    if not isinstance(device, dict) or "latency_ms" not in device:
        raise EdgekitError(f"device_bench.py on {t} printed no result for {local.name}: {stdout.strip()[:120]!r}")
    from edgekit.runtimes.bench import add_artifact_metadata

    result = {"kind": "bench", "schema": 1, "where": f"ssh://{t}", **device,
              "device": {"transport": "ssh", "target": str(t), "workdir": workdir, **(device.get("host") or {}),
                         "python": python, "interpreter": device.get("interpreter")},
              "interleaved_with": device.get("interleaved_with", 1)}
    return add_artifact_metadata(result, local)

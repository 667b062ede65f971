"""An emulated aarch64 device: a Debian bookworm arm64 userland run by qemu-user, one site per runtime.

    device = setup_device("~/.cache/edgekit/aarch64", runtimes=["litert", "tflite-runtime"])
    device.python("litert")   # a wrapper script: EDGEKIT_SSH_PYTHON for `edgekit bench --ssh`

What a Raspberry Pi OS bookworm board has (Python 3.11, glibc 2.36, aarch64) without the board:

- the userland: `debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm`
  from the Debian mirror apt already uses; `--foreign` only downloads, so every .deb is then
  unpacked with `dpkg-deb -x` (no maintainer scripts run, none are needed to start python3.11);
- per runtime a site directory: the aarch64 wheels pip resolves for cp311 at glibc <= 2.36
  (`pip download --only-binary=:all: --platform manylinux_2_*_aarch64`), unzipped (pip will not
  `install --target` foreign wheels). Runtimes differ in the numpy they need (tflite-runtime
  2.14 is built against numpy 1.x), so each has its own site and its own interpreter wrapper;
- `bin/python-<runtime>`: `qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11` with that site on
  PYTHONPATH and EDGEKIT_EMULATED set, so the device side labels every timing as emulated.

binfmt_misc is not needed (the interpreter is named explicitly). Every piece is built in a
temporary directory next to its final place and renamed into place when complete, with a stamp
holding what was installed: a half-made userland or site is never taken as ready, and a second
`setup` with the same request does nothing. The device is then reached like a real board, over
ssh to this machine (`--ssh user@127.0.0.1` with EDGEKIT_SSH_PYTHON=<wrapper>).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError

DEFAULT_CACHE = Path("~/.cache/edgekit/aarch64")
SUITE = "bookworm"  # Raspberry Pi OS bookworm: Python 3.11, glibc 2.36
GLIBC = (2, 36)
PYTHON = "usr/bin/python3.11"
QEMU = "qemu-aarch64-static"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
ENV_MARK = "EDGEKIT_EMULATED"  # set by the wrappers; device_bench labels timings as emulated
# The emulated core, as on the boards (qemu -cpu NAME; MIDR part number for the ARM /proc/cpuinfo).
# Not qemu's default `max` CPU: it advertises SME, and with it ai-edge-litert 2.3's INT8 path returned
# wrong outputs under qemu 7.2 (digits M0: cosine 0.055 against PyTorch; `max,sme=off`, cortex-a72,
# cortex-a76 and neoverse-n1 all gave outputs bit-identical to x86). No Raspberry Pi has SME.
CPUS = {"cortex-a72": ("0xd08", "Raspberry Pi 4"), "cortex-a76": ("0xd0b", "Raspberry Pi 5"),
        "cortex-a53": ("0xd03", "Raspberry Pi 3 / Zero 2 W")}
DEFAULT_CPU = "cortex-a72"

# runtime name → (pip requirements for its site, the module device_bench imports, what it is).
# Versions are what runs under emulation here (see the ARM matrix in docs/devices-and-arm.md); each is the newest
# whose aarch64 wheel pip resolves for cp311 at glibc 2.36 unless pinned for a reason:
#   tflite-runtime 2.14: the last release, the package Pi users name; built against numpy 1.x.
#   onnxruntime: runs once the userland has an ARM /proc/cpuinfo (write_cpuinfo).
RUNTIMES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "litert": (("ai-edge-litert", "numpy"), "ai_edge_litert", "ai-edge-litert (LiteRT)"),
    "tflite-runtime": (("tflite-runtime==2.14.0", "numpy<2"), "tflite_runtime", "tflite-runtime 2.14"),
    "openvino": (("openvino", "numpy"), "openvino", "OpenVINO"),
    "onnxruntime": (("onnxruntime", "numpy"), "onnxruntime", "onnxruntime"),
}


def _platform_tags() -> list[str]:
    major, minor = GLIBC
    return [f"manylinux_{major}_{m}_aarch64" for m in range(minor, 16, -1)] + ["manylinux2014_aarch64"]


@dataclass
class Device:
    """An emulated aarch64 device in `cache`: its userland and the runtimes installed so far."""

    cache: Path
    runtimes: dict = field(default_factory=dict)  # name → stamp (versions installed)

    @property
    def root(self) -> Path:
        return self.cache / "userland"

    def python(self, runtime: str) -> Path:
        """The interpreter wrapper for `runtime` (what EDGEKIT_SSH_PYTHON should name)."""
        if runtime not in self.runtimes:
            have = ", ".join(self.runtimes) or "none"
            raise EdgekitError(f"runtime {runtime} is not set up on the emulated device in {self.cache} (it has "
                               f"{have}): edgekit device setup --cache {self.cache} --runtime {runtime}")
        return self.cache / "bin" / f"python-{runtime}"

    def predict(self, runtime: str, file, x, timeout: float = 1800) -> tuple:
        """Run `file` on the samples `x` (an array, or the x:NAME dict of a several-input reference set) with
        `runtime`'s aarch64 build, directly (no ssh): (outputs
        (N, ...), device_bench's report). What the ARM matrix uses; `edgekit bench/eval --ssh` reach the
        same interpreter through sshd, as they would a board."""
        import numpy as np

        from edgekit.runtimes.remote.ssh import (artifact_files, device_bench_script, read_predictions,
                                                 write_predict_inputs)

        python = self.python(runtime)
        with tempfile.TemporaryDirectory(prefix="edgekit-aarch64-") as tmp:
            work = Path(tmp)
            for f in [device_bench_script(), *artifact_files(Path(file))]:
                shutil.copy(f, work / f.name)
            write_predict_inputs(work / "in.npz", x)
            proc = subprocess.run([str(python), "device_bench.py", Path(file).name, "--runs", "0", "--predict",
                                   "in.npz", "out.npz"], cwd=work, capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0:
                lines = [l for l in (proc.stderr or "").splitlines() if l.strip()]
                err = next((l[len("error: "):] for l in reversed(lines) if l.startswith("error: ")), None)
                raise EdgekitError(f"{runtime} on the emulated aarch64 device: "
                                   f"{err or (lines[-1] if lines else f'exit {proc.returncode}')}"[:300])
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            with np.load(work / "out.npz") as data:
                return read_predictions(data), report

    def to_dict(self) -> dict:
        return {"cache": str(self.cache), "root": str(self.root), "qemu": shutil.which(QEMU),
                "runtimes": {n: {**s, "python": str(self.python(n))} for n, s in self.runtimes.items()}}


# ------------------------------------------------------------------------------------------ look-up

def _stamp(path: Path) -> dict | None:
    try:
        return json.loads((path / ".edgekit-ready.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def open_device(cache=DEFAULT_CACHE) -> Device:
    """The device already set up in `cache`; EdgekitError (one line) when there is none or no qemu."""
    cache = Path(cache).expanduser()
    # The cache first: what is (not) set up there does not depend on this machine's tools, so the
    # message for a missing device is the same whether or not qemu is installed.
    if _stamp(cache / "userland") is None:
        raise EdgekitError(f"no aarch64 userland in {cache}: run `edgekit device setup --cache {cache}` first")
    require_qemu()
    runtimes = {}
    for name in RUNTIMES:
        stamp = _stamp(cache / "sites" / name)
        if stamp is not None and (cache / "bin" / f"python-{name}").is_file():
            runtimes[name] = stamp
    return Device(cache, runtimes)


def require_qemu() -> str:
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise EdgekitError(f"{QEMU} not found: install it (apt-get install qemu-user-static) to emulate an aarch64 "
                           f"device")
    return qemu


# ------------------------------------------------------------------------------------------- set-up

def setup_device(cache=DEFAULT_CACHE, runtimes=("litert",), mirror: str | None = None, log=None,
                 cpu: str = DEFAULT_CPU) -> Device:
    """Make (or reuse) the userland and one site per runtime in `cache`; idempotent and atomic.
    `cpu`: the emulated core (CPUS); the wrappers of every runtime set up here use it."""
    cache = Path(cache).expanduser().resolve()
    if cpu not in CPUS:
        from edgekit.errors import did_you_mean

        raise EdgekitError(f"unknown --cpu {cpu!r}{did_you_mean(cpu, CPUS)}; choose from "
                           + ", ".join(f"{k} ({v[1]})" for k, v in CPUS.items()))
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        from edgekit.errors import did_you_mean

        raise EdgekitError(f"unknown runtime {unknown[0]!r}{did_you_mean(unknown[0], RUNTIMES)}; "
                           f"choose from {', '.join(RUNTIMES)}")
    say = log or (lambda msg: None)
    require_qemu()
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / "userland"
    if _stamp(root) is None:
        _build_userland(root, mirror or apt_mirror(), say)
    write_cpuinfo(root, cpu)
    names = list(dict.fromkeys([*runtimes, *(n for n in RUNTIMES if _stamp(cache / "sites" / n) is not None)]))
    for name in names:
        site = cache / "sites" / name
        if _stamp(site) is None:
            _build_site(site, name, say)
        _write_wrapper(cache, name, cpu)
    device = open_device(cache)
    for name in runtimes:
        say(f"{name}: {', '.join(f'{k} {v}' for k, v in device.runtimes[name]['packages'].items())}")
    return device


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (one-line or deb822 sources), else deb.debian.org."""
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            texts.append(p.read_text())
        except OSError:
            continue
    for text in texts:
        for m in re.finditer(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M):
            return m.group(1)
        for block in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.M)
            suites = re.search(r"^Suites:\s*(.*)$", block, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
    return DEFAULT_MIRROR


def _run(cmd: list[str], what: str, hint: str, **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise EdgekitError(f"{cmd[0]} not found: {hint}") from None
    if proc.returncode != 0:
        tail = [l for l in (proc.stderr or proc.stdout or "").splitlines() if l.strip()]
        raise EdgekitError(f"{what} failed ({tail[-1].strip()[:200] if tail else f'exit {proc.returncode}'}): {hint}")
    return proc


def _staging(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}-building-", dir=final.parent))


def _commit(tmp: Path, final: Path, stamp: dict) -> None:
    """Write the stamp, then rename into place (a stale incomplete `final` is replaced)."""
    (tmp / ".edgekit-ready.json").write_text(json.dumps(stamp, indent=1) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _build_userland(root: Path, mirror: str, say) -> None:
    if shutil.which("debootstrap") is None:
        raise EdgekitError("debootstrap not found: install it (apt-get install debootstrap) to build the aarch64 "
                           "userland")
    if os.geteuid() != 0:
        raise EdgekitError("building the aarch64 userland needs root (debootstrap makes device nodes); run "
                           "`edgekit device setup` as root once")
    tmp = _staging(root)
    try:
        say(f"debootstrap {SUITE} arm64 (minbase + python3) from {mirror}")
        _run(["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase", "--include=python3", SUITE, str(tmp),
              mirror], "debootstrap", f"check that {mirror} is reachable (it is the mirror apt uses)", timeout=900)
        debs = sorted((tmp / "var/cache/apt/archives").glob("*.deb"))
        say(f"unpacking {len(debs)} packages")
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"dpkg-deb -x {deb.name}", "the download may be corrupt; "
                 "delete the cache and run setup again")
            deb.unlink()  # the archives are not needed once unpacked
        if not (tmp / PYTHON).is_file():
            raise EdgekitError(f"the {SUITE} arm64 userland has no {PYTHON}: the mirror {mirror} served an "
                               f"unexpected python3")
        version = _run([require_qemu(), "-L", str(tmp), str(tmp / PYTHON), "-c",
                        "import platform; print(platform.machine(), platform.python_version(), "
                        "platform.libc_ver()[1])"], "starting the aarch64 python3.11 under qemu",
                       "qemu-aarch64-static must be able to run aarch64 binaries", timeout=120).stdout.split()
        write_cpuinfo(tmp, DEFAULT_CPU)
        _commit(tmp, root, {"suite": SUITE, "mirror": mirror, "machine": version[0], "python": version[1],
                            "glibc": version[2] if len(version) > 2 else None, "packages": len(debs)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# An ARM /proc/cpuinfo for the userland (qemu-user opens ROOT/proc/cpuinfo before the host's when it
# exists). Without it the aarch64 programs read the x86 host's, and onnxruntime's CPU detection
# (pytorch/cpuinfo, run when the library loads) finds no ARM processor in it and dereferences a null
# pointer: the "segfault on import". Cortex-A72 is the Raspberry Pi 4's core; the features the kernels
# use come from the auxiliary vector (HWCAP) qemu provides, not from this file. "Hardware" names the
# emulation, so device_bench labels timings as emulated even without EDGEKIT_EMULATED.
CPUINFO_CORE = ("BogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
                "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {part}\nCPU revision\t: 3\n")


# The same core's MIDR_EL1 in sysfs (implementer 0x41, variant 0, architecture 0xf, part, revision 3, as
# in CPUINFO_CORE), where a Linux board has it: OpenVINO's aarch64 CPU plugin (xbyak_aarch64) reads
# /sys/devices/system/cpu/cpuN/regs/identification/midr_el1 and, under qemu-user, found the x86 host's
# sysfs without it ("Can't open MIDR_EL1 sysfs entry").
MIDR_SYSFS = "sys/devices/system/cpu/cpu{i}/regs/identification/midr_el1"


def midr_el1(cpu: str = DEFAULT_CPU) -> int:
    return 0x41 << 24 | 0xF << 16 | int(CPUS[cpu][0], 16) << 4 | 3


def write_cpuinfo(root: Path, cpu: str = DEFAULT_CPU) -> None:
    """The userland's ARM /proc/cpuinfo and MIDR_EL1 sysfs entries for `cpu`, one per host core."""
    core = CPUINFO_CORE.format(part=CPUS[cpu][0])
    n = os.cpu_count() or 1
    text = "".join(f"processor\t: {i}\n{core}\n" for i in range(n))
    text += "Hardware\t: edgekit emulated aarch64 (qemu-user)\n"
    _write_if_changed(root / "proc" / "cpuinfo", text)
    for i in range(n):
        _write_if_changed(root / MIDR_SYSFS.format(i=i), f"0x{midr_el1(cpu):016x}\n")


def _write_if_changed(path: Path, text: str) -> None:
    """`text` into `path` (atomically, fileio.write_text_atomic) unless it already holds it."""
    from edgekit.fileio import write_text_atomic

    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text, force=True)


def _build_site(site: Path, name: str, say) -> None:
    reqs = RUNTIMES[name][0]
    tmp = _staging(site)
    wheels = Path(tempfile.mkdtemp(prefix=".wheels-", dir=site.parent))
    try:
        say(f"{name}: pip download {' '.join(reqs)} (aarch64 wheels)")
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "-q",
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
               "--abi", "abi3", "--abi", "none"]
        for tag in _platform_tags():
            cmd += ["--platform", tag]
        cmd += ["--platform", "any", "-d", str(wheels), *reqs]
        env = {**os.environ, "PIP_CONSTRAINT": ""}  # the host's pins are for x86 wheels
        _run(cmd, f"pip download of the aarch64 wheels for {name}",
             f"{name} may have no cp311 aarch64 wheel for glibc {GLIBC[0]}.{GLIBC[1]} (Raspberry Pi OS bookworm); "
             f"see docs/devices-and-arm.md (the ARM matrix) for the runtimes that have one", env=env, timeout=1200)
        packages = {}
        for whl in sorted(wheels.glob("*.whl")):
            dist, version = whl.name.split("-")[:2]
            packages[dist.replace("_", "-").lower()] = version
            with zipfile.ZipFile(whl) as z:
                z.extractall(tmp)
        _fix_modes(tmp)
        _commit(tmp, site, {"runtime": name, "requirements": list(reqs), "packages": packages})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(wheels, ignore_errors=True)


def _fix_modes(site: Path) -> None:
    """zipfile drops permissions: shared libraries and bundled executables must stay executable."""
    for p in site.rglob("*"):
        if p.is_file() and (".so" in p.suffixes or p.parent.name == "bin"):
            p.chmod(0o755)


def wrapper_text(cache: Path, name: str, cpu: str = DEFAULT_CPU) -> str:
    root, site = cache / "userland", cache / "sites" / name
    q = lambda p: "'" + str(p).replace("'", "'\\''") + "'"  # noqa: E731  (POSIX single-quoting)
    return ("#!/bin/sh\n"
            f"# edgekit's emulated aarch64 device: Debian {SUITE} python3.11 + {RUNTIMES[name][2]} under qemu-user.\n"
            "# Timings taken through this interpreter are emulated: they say nothing about a device's latency.\n"
            f"export {ENV_MARK}=qemu-aarch64-{cpu}\n"
            f"export PYTHONPATH={q(site)}\n"
            "export PYTHONNOUSERSITE=1\n"
            "unset PYTHONHOME\n"
            f"exec {q(shutil.which(QEMU) or QEMU)} -cpu {cpu} -L {q(root)} {q(root / PYTHON)} \"$@\"\n")


def _write_wrapper(cache: Path, name: str, cpu: str = DEFAULT_CPU) -> Path:
    path = cache / "bin" / f"python-{name}"
    _write_if_changed(path, wrapper_text(cache, name, cpu))
    path.chmod(0o755)
    return path

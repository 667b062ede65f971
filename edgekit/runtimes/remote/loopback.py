"""A loopback OpenSSH server: how the emulated aarch64 device (and the remote tests) are reached like a board.

Debian's sshd on 127.0.0.1 and a free port, with its own host key and user key in `workdir`, key
authentication only, allowing just the current user; it does not touch the machine's sshd or
~/.ssh. `edgekit device serve` runs one in the foreground; tests/remote/conftest.py starts one per
session. The device's interpreter is always named by EDGEKIT_SSH_PYTHON, never taken from the
login shell's PATH.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LoopbackSshd:
    port: int
    user: str
    key: Path
    known_hosts: Path
    workdir: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def require_sshd() -> None:
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        raise EdgekitError(f"{SSHD}, ssh and ssh-keygen are needed to reach the emulated device like a board: "
                           f"apt-get install openssh-server openssh-client")


def start_sshd(workdir, extra_keys: tuple[str, ...] = (), path: str | None = None, timeout: float = 15) -> LoopbackSshd:
    """Start sshd on 127.0.0.1 with keys in `workdir` (user_key, and `extra_keys` made but not authorized).
    `path`: the PATH its sessions get (default /usr/local/bin:/usr/bin:/bin)."""
    require_sshd()
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "user_key", *extra_keys):
        if not (d / name).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(d / name)],
                           check=True, capture_output=True)
        os.chmod(d / name, 0o600)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege-separation directory
    port = free_port()
    user = getpass.getuser()
    config = d / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {d / 'host_key'}", f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}", "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
        f"AllowUsers {user}", f"SetEnv PATH={path or '/usr/local/bin:/usr/bin:/bin'}", "LogLevel ERROR",
    ]) + "\n")
    check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        raise EdgekitError(f"sshd rejects the loopback config: {check.stderr.strip()[:200]}")
    log = open(d / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = LoopbackSshd(port, user, d / "user_key", d / "known_hosts", d, proc)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise EdgekitError(f"sshd exited with {proc.returncode}: {(d / 'sshd.log').read_text()[-200:].strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise EdgekitError(f"sshd did not start listening on 127.0.0.1:{port} within {timeout:.0f} s") \
                    from None
            time.sleep(0.1)

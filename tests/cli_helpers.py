"""Shared by the CLI tests: run `edgekit` in-process, and check the one-line user-error contract.

Importable from any test as `from cli_helpers import ...` (tests/ is on sys.path via its conftest).
"""

from __future__ import annotations

import os
import subprocess
import sys

from edgekit.cli.app import main

CLI_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def run_cli(*args, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """`python -m edgekit *args` in a real process: exit code and stderr as a shell sees them."""
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=CLI_ENV if env is None else env)


def run_in_process(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `edgekit *argv` in this process."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_user_error(proc, *needles) -> str:
    """A user mistake: exit 2, one `error: ...` line on stderr naming `needles`, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err

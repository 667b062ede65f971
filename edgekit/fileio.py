"""Atomic, no-clobber output: nothing half-written on disk, nothing overwritten without --force."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from edgekit.errors import EdgekitError


def check_writable(paths, force: bool) -> None:
    """Refuse (one line, exit 2) when any output exists and --force was not given."""
    for p in paths:
        if Path(p).exists() and not force:
            raise EdgekitError(f"{p} exists; pass --force to overwrite")


@contextlib.contextmanager
def atomic_outputs(*paths, force: bool = False):
    """Yield temporary paths (same directory, same suffix); rename them all into place on success.

    On any exception the temporaries are removed and the destinations are untouched. Exporters
    that write a pair (OpenVINO .xml + .bin, model + sidecar JSON) commit both together.
    """
    finals = [Path(p) for p in paths]
    check_writable(finals, force)
    for f in finals:
        f.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".edgekit-", dir=finals[0].parent))
    temps = [tmpdir / f.name for f in finals]
    try:
        yield temps
        missing = [str(t.name) for t in temps if not t.exists()]
        if missing:
            raise RuntimeError(f"writer did not produce {missing}")
        for t, f in zip(temps, finals):
            os.replace(t, f)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_text_atomic(path, text: str, force: bool = False) -> Path:
    with atomic_outputs(path, force=force) as (tmp,):
        tmp.write_text(text)
    return Path(path)

"""The results file: `results/results.jsonl`, one JSON record per cell, append-only.

Each record is written as one line with a single write() on an O_APPEND descriptor and fsync'd
before the sweep moves on, so a crash or SIGKILL loses at most the cells still in flight. A torn
last line (power loss mid-write) is skipped on reading and the next append starts a fresh line.
A key already in the file is never written again: a resumed sweep skips done cells, and one
sweep at a time holds the directory's lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from edgekit.errors import EdgekitError

RESULTS = "results.jsonl"


def read_records(path, kind: str = "sweep_cell") -> list[dict]:
    """Every complete record of a results file (or of `DIR/results.jsonl`); the first per key.
    `kind`: the records' kind (the latency tables of edgekit.search keep theirs in the same format)."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS
    if not p.is_file():
        raise EdgekitError(f"no sweep results at {p} (run `edgekit sweep SWEEP.toml -o DIR` first)")
    seen, out = set(), []
    with open(p, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a crash
            if isinstance(rec, dict) and rec.get("kind") == kind and rec.get("key") not in seen:
                seen.add(rec.get("key"))
                out.append(rec)
    return out


class ResultsStore:
    """Appends records to DIR/results.jsonl; `done` holds the keys already there."""

    def __init__(self, directory, kind: str = "sweep_cell"):
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise EdgekitError(f"-o {self.dir} exists and is not a directory")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / RESULTS
        self._lock = open(self.dir / ".lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise EdgekitError(f"another sweep is writing to {self.dir}; wait for it or use another -o") from None
        self.done: set[str] = {r["key"] for r in read_records(self.path, kind)} if self.path.is_file() else set()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":  # torn last line: start the next record on a line of its own
                    os.write(self._fd, b"\n")

    def append(self, record: dict) -> bool:
        """Write `record` durably unless its key is already there; True when written."""
        if record["key"] in self.done:
            return False
        data = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        while data:
            data = data[os.write(self._fd, data):]
        os.fsync(self._fd)
        self.done.add(record["key"])
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

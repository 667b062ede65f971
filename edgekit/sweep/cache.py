"""The export cache: one directory per export, keyed by what the export depends on.

The key hashes the model (zoo name, or the factory file's content), the weights' content, the
input size, target, precision, the calibration data's content (int8), the export options and the
edgekit version. A directory `exports/<stem>-<key>/` is complete when it exists: it is built
aside and renamed into place, so a crash leaves only a `.tmp-*` directory that the next run
removes. Evaluations are cached inside it by the data's content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from edgekit import __version__

INFO = "export.json"
_hashes: dict[tuple, str] = {}


def file_hash(path) -> str:
    """sha256 of a file's content (memoised by path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _hashes:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _hashes[memo] = h.hexdigest()
    return _hashes[memo]


def data_hash(path: str | None) -> str | None:
    """Content hash of calibration/eval data: a file's bytes, or every file under a folder."""
    if path is None or path == "synthetic":
        return path
    p = Path(path)
    if p.is_file():
        return file_hash(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(str(f.relative_to(p)).encode() + b"\0" + file_hash(f).encode())
    return h.hexdigest()


def model_identity(source: str) -> str:
    """A zoo name as it is; a file.py:factory by the file's content and the factory's name."""
    target, sep, factory = source.rpartition(":")
    if sep and target.endswith(".py") and Path(target).is_file():
        return f"file:{file_hash(target)}:{factory}"
    return source


def export_key(spec, sweep) -> str:
    m = spec.model
    parts = {"model": model_identity(m.source), "weights": file_hash(m.weights) if m.weights else None,
             "num_classes": m.num_classes, "input_size": spec.input_size, "inputs": list(m.inputs), "target": spec.target,
             "precision": spec.precision, "opset": sweep.opset, "verify": sweep.verify,
             "parity_samples": sweep.parity_samples, "edgekit": __version__}
    if spec.precision == "int8":
        parts |= {"calib": data_hash(sweep.calib), "calib_method": sweep.calib_method, "calib_size": sweep.calib_size}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def eval_key(sweep) -> str | None:
    if sweep.eval_data is None:
        return None
    return hashlib.sha256(json.dumps([data_hash(sweep.eval_data), sweep.eval_size]).encode()).hexdigest()[:16]


class ExportCache:
    def __init__(self, root):
        self.root = Path(root)

    def dir_for(self, spec, key: str) -> Path:
        stem = f"{spec.model.name}-{spec.input_size}-{spec.target}-{spec.precision}"
        stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem)
        return self.root / f"{stem}-{key}"

    def get(self, spec, key: str) -> dict | None:
        """The cached export's info (export.json), or None."""
        info = self.dir_for(spec, key) / INFO
        if not info.is_file():
            return None
        try:
            return json.loads(info.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def staging(self, spec, key: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{self.dir_for(spec, key).name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        return tmp

    def commit(self, tmp: Path, spec, key: str) -> Path:
        """Rename a finished staging directory into place (another worker may have won: keep theirs)."""
        final = self.dir_for(spec, key)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / INFO).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def clean_staging(self) -> None:
        """Remove what crashed runs left half-built."""
        if self.root.is_dir():
            for p in self.root.glob(".tmp-*"):
                shutil.rmtree(p, ignore_errors=True)

    def read_eval(self, directory: Path, key: str) -> dict | None:
        p = Path(directory) / f"eval-{key}.json"
        try:
            return json.loads(p.read_text()) if p.is_file() else None
        except (OSError, json.JSONDecodeError):
            return None

    @staticmethod
    def write_json(path: Path, obj) -> None:
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
        os.replace(tmp, path)

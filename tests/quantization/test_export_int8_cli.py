"""`edgekit export --int8` bad calibration input: one line on stderr, exit 2, nothing written."""

import numpy as np
import pytest
from PIL import Image

from cli_helpers import run_in_process as run


@pytest.fixture
def bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    (junk / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    for i in range(4):
        Image.new("RGB", (40, 40), (i * 40, 0, 0)).save(unlabeled / f"{i}.png")
    np.save(tmp_path / "gray.npy", np.zeros((4, 32, 32, 1), np.uint8))
    np.save(tmp_path / "float_wrong.npy", np.zeros((4, 3, 16, 16), np.float32))
    return tmp_path


@pytest.mark.parametrize("source, extra, message", [
    ("empty", (), "is empty"),
    ("junk", (), "(2 file(s) skipped as unreadable or not images)"),
    ("gray.npy", (), "no axis of 3 channels"),
    ("float_wrong.npy", (), "float inputs of shape (3, 16, 16)"),
    ("unlabeled", ("--max-drop", "0.5"), "--max-drop needs labeled data"),
])
def test_bad_calibration_input(capsys, bad_sources, source, extra, message):
    out_file = bad_sources / "out.onnx"
    code, _, err = run(capsys, "export", "micronet-m0", "--input-size", "32", "--target", "onnx", "--int8",
                       "--calib", str(bad_sources / source), "-o", str(out_file), *extra)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not out_file.exists()

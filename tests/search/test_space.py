"""The space file: shapes follow from the stem and the stages; mistakes are one line with file:line."""

import subprocess
import sys

import pytest

from edgekit.errors import EdgekitError
from edgekit.search.space import block_key, load_space
from tests.search.conftest import TINY, write_space


def test_shapes_chain_and_candidates_expand(tmp_path):
    space = load_space(write_space(tmp_path / "s.toml"))
    assert space.stem_output == (8, 8, 8)
    assert [st.input for st in space.stages] == [(8, 8, 8), (16, 4, 4)]
    assert [len(st.candidates) for st in space.stages] == [3, 2]  # sm + plain k3, k5 ; plain k3, k5
    assert space.head_input == (16, 4, 4)
    assert space.size() == 6
    # stem + 3 + 2 + head; the same block at another input shape is another entry
    blocks = space.distinct_blocks()
    assert len(blocks) == 7
    assert len({block_key(s, sh) for s, sh in blocks}) == 7
    arch = space.architecture((1, 0))
    assert [sh for _, sh in arch] == [(3, 16, 16), (8, 8, 8), (16, 4, 4), (16, 4, 4)]
    assert len(space.sample(10, seed=0)) == 6  # never more than the space holds, no repeats


def _error(tmp_path, text):
    p = write_space(tmp_path / "bad.toml", text)
    with pytest.raises(EdgekitError) as exc:
        load_space(p)
    return str(exc.value), p


def test_unknown_block_type_names_line_and_key(tmp_path):
    msg, p = _error(tmp_path, TINY.replace('type = "micro"\nkernel = 3', 'type = "mikro"\nkernel = 3'))
    assert msg.startswith(f"{p}:8: unknown block type 'mikro'"), msg  # line 8: `type = "mikro"`
    assert "did you mean: micro" in msg


def test_stage_input_that_does_not_chain(tmp_path):
    msg, p = _error(tmp_path, TINY.replace("[stages.s2]\n", "[stages.s2]\ninput = [16, 8, 8]\n"))
    line = TINY.replace("[stages.s2]\n", "[stages.s2]\ninput = [16, 8, 8]\n").splitlines().index("input = [16, 8, 8]") + 1
    assert msg.startswith(f"{p}:{line}: stage s2's input [16, 8, 8] does not chain"), msg
    assert "[16, 4, 4]" in msg


def test_stride_that_does_not_divide(tmp_path):
    text = TINY.replace('input = [3, 16, 16]', 'input = [3, 12, 12]').replace("stride = 1", "stride = 2") \
        .replace("[stages.s2]", "[stages.s3]\nout = 16\nstride = 2\ncandidates = [\"plain\"]\n\n[stages.s2]")
    msg, p = _error(tmp_path, text)
    assert "does not divide by stride 2" in msg and msg.startswith(f"{p}:"), msg


def test_groups_must_divide_widths(tmp_path):
    msg, _ = _error(tmp_path, TINY.replace("groups = 2\nact = \"relu6\"", "groups = 3\nact = \"relu6\""))
    assert "groups 3 must divide the input width 8" in msg


def test_cli_bad_space_is_one_line_exit_2(tmp_path):
    p = write_space(tmp_path / "bad.toml", TINY.replace('candidates = ["plain"]', 'candidates = ["fancy"]'))
    proc = subprocess.run([sys.executable, "-m", "edgekit", "lut", str(p), "-o", str(tmp_path / "lut")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown block 'fancy'" in lines[0] and f"{p}:" in lines[0], proc.stderr
    assert not (tmp_path / "lut").exists()

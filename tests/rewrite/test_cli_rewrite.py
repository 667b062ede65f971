import json

import pytest

from edgekit.cli.app import main


def test_rewrite_json(capsys):
    with pytest.raises(SystemExit) as e:
        main(["rewrite", "micronet-m0", "--input-size", "64", "--target", "tflite", "--json"])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gathers_before"] == 15 and out["gathers_after"] == 0
    assert out["max_abs_diff"] < 1e-5
    assert [p["name"] for p in out["passes"]][0] == "fold_batchnorm"
    assert out["madds_after"] >= out["madds_before"]


def test_rewrite_table_and_report(capsys):
    with pytest.raises(SystemExit) as e:
        main(["rewrite", "micronet-m0", "--input-size", "64", "--report"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "fold_batchnorm" in out and "gather/index ops 15 → 0" in out and "index 15→0" in out


def test_bad_target_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["rewrite", "micronet-m0", "--target", "coreml"])
    assert e.value.code == 2
    assert "error: --target 'coreml'" in capsys.readouterr().err

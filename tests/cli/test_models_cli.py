"""`edgekit models` and `edgekit flops` through a real process: JSON, exit codes, one-line errors."""

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap

import pytest
from cli_helpers import assert_user_error

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}


def edgekit(*args, cwd=None, script=False):
    exe = [shutil.which("edgekit")] if script and shutil.which("edgekit") else [sys.executable, "-m", "edgekit"]
    return subprocess.run([*exe, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=ENV)


def test_models_json_lists_the_zoo_with_exact_counts():
    proc = edgekit("models", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"micronet-m0", "micronet-m1", "micronet-m2", "micronet-m3", "mobilenetv2-dyrelu",
                         "mobilenetv3-small-035", "mobilenetv3-small-050", "mobilenetv3-small-075",
                         "mobilenetv3-small-100", "mobilenetv3-small-dyconv", "resnet18-dyconv",
                         "c3d-small", "tan-small", "s3d-small", "tcn-small", "dtpn-small", "man-small",
                         "mobonet-small"}
    man = rows["man-small"]  # several inputs: each with its name, shape and dtype
    assert [(s["name"], s["shape"], s["dtype"]) for s in man["inputs"]] == [("video", [64, 32], "float32"),
                                                                           ("tokens", [12], "int64")]
    assert [o["name"] for o in man["outputs"]] == ["scores", "offsets"]
    m0 = rows["micronet-m0"]
    assert (m0["params"], m0["conv_madds"], m0["dynamic_madds"], m0["madds_target"]) == (1_019_590, 3_448_880,
                                                                                         605_248, 4_000_000)
    assert m0["input"] == [3, 224, 224]
    v3 = rows["mobilenetv3-small-100"]
    assert (v3["params"], v3["conv_madds"], v3["madds_target"]) == (2_542_856, 56_510_400, 66_000_000)
    assert rows["resnet18-dyconv"]["dynamic_madds"] == 43_941_888
    c3d = rows["c3d-small"]
    assert (c3d["conv_madds"], c3d["madds_target"], c3d["input"]) == (650_287_424, 650_287_424, [3, 8, 112, 112])


def test_flops_json_micronet_m0():
    proc = edgekit("flops", "micronet-m0", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert (r["params"], r["conv_madds"]) == (1_019_590, 3_448_880)
    assert r["dynamic_madds"] == 605_248 and r["total_madds"] == 4_054_128
    assert r["input_shape"] == [1, 3, 224, 224] and r["madds_target"] == 4_000_000


def test_flops_table_and_per_layer_at_low_resolution():
    proc = edgekit("flops", "mobilenetv3-small-dyconv", "--input-size", "64", "--per-layer")
    assert proc.returncode == 0, proc.stderr
    assert "DynamicConv2d" in proc.stdout and "6,991,192" in proc.stdout  # conv+linear MAdds at 64x64
    assert "target" not in proc.stdout.split("total")[-1]  # the 224 target is not compared at 64


def test_unknown_model_is_exit_2_with_close_matches():
    assert_user_error(edgekit("flops", "micronet-m7"), "unknown model 'micronet-m7'", "did you mean: micronet-m")
    assert_user_error(edgekit("flops", "resnet18-dyconf"), "did you mean: resnet18-dyconv")


@pytest.mark.parametrize("command", ["models", "flops"])
def test_help_shows_examples(command):
    proc = edgekit(command, "--help")
    assert proc.returncode == 0
    assert "Examples" in proc.stdout and f"edgekit {command} " in proc.stdout


class WritesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_and_junk_are_refused_exit_2(tmp_path):
    import torch

    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": WritesMarker(str(marker))}, evil)
    legacy = tmp_path / "legacy.pkl"
    with open(legacy, "wb") as f:
        pickle.dump(WritesMarker(str(marker)), f)
    junk = tmp_path / "junk.pth"
    junk.write_text("hello, I am not a checkpoint\n")
    assert_user_error(edgekit("flops", "micronet-m0", "--weights", str(evil)), "refused to load", "io.open")
    assert_user_error(edgekit("flops", "micronet-m0", "--weights", str(legacy)), "refused to load")
    assert_user_error(edgekit("flops", "micronet-m0", "--weights", str(junk)), "is not a PyTorch checkpoint")
    assert not marker.exists()


def test_wrong_checkpoint_is_one_line_exit_2(tmp_path):
    import torch

    from edgekit.models import create_model

    state = create_model("mobilenetv3-small-035").state_dict()
    path = tmp_path / "v3.pth"
    torch.save({"state_dict": state}, path)
    assert_user_error(edgekit("flops", "micronet-m0", "--weights", str(path)), "does not fit this model",
                      "missing keys: ", "unexpected keys: ", "more)")


def test_num_classes_from_checkpoint_through_cli(tmp_path):
    import torch

    from edgekit.models import create_model

    path = tmp_path / "m0-10.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in create_model("micronet-m0", num_classes=10)
                               .state_dict().items()}}, path)
    proc = edgekit("flops", "micronet-m0", "--weights", str(path), "--input-size", "64", "--json")
    assert proc.returncode == 0, proc.stderr
    # 10-class head: 640*10 + 10 (linear) + 2*10 (BatchNorm1d) instead of 1000 classes
    assert json.loads(proc.stdout)["params"] == 1_019_590 - 990 * (640 + 1 + 2)


USER_NET = textwrap.dedent('''
    import torch
    from torch import nn

    def build(num_classes=10):
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(8, num_classes))
''')


def test_user_model_file_and_module(tmp_path):
    (tmp_path / "usernet.py").write_text(USER_NET)
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(USER_NET)
    # conv 32*32*8*27 = 221184 + fc 80; params 224 + 90
    proc = edgekit("flops", str(tmp_path / "usernet.py") + ":build", "--input-shape", "3,32,32", "--json")
    assert proc.returncode == 0, proc.stderr
    assert (json.loads(proc.stdout)["params"], json.loads(proc.stdout)["conv_madds"]) == (314, 221_264)
    # package.module:factory resolved from the working directory, with the installed console script
    proc = edgekit("flops", "userpkg.nets:build", "--input-shape", "3x32x32", "--json", cwd=tmp_path, script=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["conv_madds"] == 221_264
    assert_user_error(edgekit("flops", "userpkg.nets:build", cwd=tmp_path), "no model card: give --input-shape")

"""`edgekit export --stream`, `edgekit stream` and `edgekit bench` of a step file, end to end on real runtimes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import assert_user_error, run_cli

USER = Path(__file__).parents[1] / "rewrite" / "stream" / "user_stream_models.py"
sys.path.insert(0, str(USER.parent))
import user_stream_models as U  # noqa: E402


@pytest.fixture(scope="module")
def step_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream")
    model = U.conditioned(U.build_sequence(), (12, 32))
    torch.save(model.state_dict(), out / "w.pth")
    proc = run_cli("export", f"{USER}:build_sequence", "--input-shape", "12,32", "--stream", "-w", out / "w.pth",
                   "--target", "onnx", "-o", f"{out}/", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    return Path(result["exports"][0]["file"]), model


def test_stream_cli_matches_the_whole_video_clip_model(step_file, tmp_path):
    step_file, model = step_file
    meta = json.loads(Path(str(step_file) + ".edgekit.json").read_text())
    s = meta["stream"]
    assert (s["frames_per_step"], s["delay_steps"]) == (2, 9)
    video = np.random.default_rng(1).standard_normal((12, 60)).astype(np.float32)
    np.save(tmp_path / "v.npy", video)
    proc = run_cli("stream", step_file, "--video", tmp_path / "v.npy", "-o", tmp_path / "o.npy", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["steps"] == 30 and r["outputs"]["logits"] == [1, 4, 21]
    got = np.load(tmp_path / "o.npy")
    with torch.no_grad():  # the exported weights, the clip model, the whole video
        ref = model(torch.from_numpy(video)[None]).numpy()
    assert np.abs(got - ref[:, :, :21]).max() <= 1e-4 * np.abs(ref[:, :, :21]).max()
    # -o exists: refused, untouched
    before = (tmp_path / "o.npy").read_bytes()
    assert_user_error(run_cli("stream", step_file, "--video", tmp_path / "v.npy", "-o", tmp_path / "o.npy"),
                      "exists")
    assert (tmp_path / "o.npy").read_bytes() == before


def test_stream_cli_bad_videos_write_nothing(step_file, tmp_path):
    step_file, model = step_file
    np.save(tmp_path / "short.npy", np.zeros((12, 1), np.float32))
    np.save(tmp_path / "wide.npy", np.zeros((10, 40), np.float32))
    assert_user_error(run_cli("stream", step_file, "--video", tmp_path / "short.npy", "-o", tmp_path / "a.npy"),
                      "1 frames, fewer than one step (2 frames)")
    assert_user_error(run_cli("stream", step_file, "--video", tmp_path / "wide.npy", "-o", tmp_path / "b.npy"),
                      "takes frames of 12 channels")
    assert not (tmp_path / "a.npy").exists() and not (tmp_path / "b.npy").exists()


def test_bench_of_a_step_file_times_one_step_with_live_state(step_file):
    step_file, model = step_file
    proc = run_cli("bench", step_file, "--runs", "20", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    r = r[0] if isinstance(r, list) else r
    meta = json.loads(Path(str(step_file) + ".edgekit.json").read_text())
    assert r["stream"]["frames_per_step"] == 2 and r["stream"]["state_bytes"] == meta["stream"]["state_bytes"]
    assert r["stream"]["madds_per_step"] == meta["stream"]["madds_per_step"] > 0
    assert r["stream"]["ms_per_step"] > 0


def test_export_stream_of_a_model_without_time_axis_is_one_line(tmp_path):
    net = tmp_path / "img.py"
    net.write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n")
    proc = run_cli("export", f"{net}:build", "--input-shape", "3,16,16", "--stream", "-o", f"{tmp_path}/")
    assert_user_error(proc, "no time axis")
    assert list(tmp_path.iterdir()) == [net]

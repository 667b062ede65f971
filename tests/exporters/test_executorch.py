"""ExecuTorch target: .pte export (FP32 and INT8 through the XNNPACK quantizer), full delegation of
edgekit's form, parity and accuracy on the ExecuTorch runtime, census, profile, one-line refusals."""

import json

import numpy as np
import pytest

pytest.importorskip("executorch")


@pytest.fixture(scope="module")
def m0_pte(tmp_path_factory):
    from edgekit.exporters.pipeline import export_model

    out = tmp_path_factory.mktemp("et") / "m0.pte"
    r = export_model("micronet-m0", "executorch", input_size=64, out=out, n_parity=4)
    return out, r.exports[0].meta


def test_m0_fp32_one_delegate_nothing_outside(m0_pte):
    path, meta = m0_pte
    d = meta["census"]["delegate"]
    assert d["partitions"] == 1 and d["default_kernel_ops"] == 0 and d["fully_delegated"]
    assert d["delegated_by_type"]["XNNConv2d"] + d["delegated_by_type"].get("XNNDepthwiseConv2d", 0) >= 40
    assert meta["census"]["instructions"] == {"DelegateCall": 1}
    assert meta["parity"]["rel_max_abs_diff"] <= 1e-4 and meta["parity"]["ok"]
    assert "shift_max_slices" in [r["name"] for r in meta["rewrites"]]


def test_runner_threads_and_inspect_and_profile(m0_pte):
    from edgekit.analysis.inspect import inspect_file
    from edgekit.runtimes.base import open_runner, random_inputs
    from edgekit.runtimes.executorch_runner import portable_lib
    from edgekit.runtimes.profile import profile_file

    path, _ = m0_pte
    r2 = open_runner(path, threads=2)
    assert portable_lib()._threadpool_get_thread_count() == 2
    r1 = open_runner(path, threads=1)
    x = random_inputs(r1.inputs())
    y1 = r1.run(*x)[0]
    assert portable_lib()._threadpool_get_thread_count() == 1
    y2 = r2.run(*x)[0]  # the pool is resized back to this runner's count
    assert portable_lib()._threadpool_get_thread_count() == 2
    assert np.abs(y1 - y2).max() <= 1e-4 * np.abs(y1).max()
    info = inspect_file(path)
    assert info["format"] == "executorch" and info["delegate"]["fully_delegated"]
    assert info["inputs"][0]["shape"] == [1, 3, 64, 64]
    p = profile_file(path, runs=5, warmup=2)
    ops = {o["op"]: o for o in p["ops_all"]} if "ops_all" in p else {o["op"]: o for o in p["ops"]}
    assert p["runtime"] == "executorch" and p["ops_total"] >= 8
    assert "Convolution" in ops or "Fully Connected" in ops
    assert sum(o["nodes"] for o in p["ops"]) >= 100  # one event per XNNPACK kernel (363 in the graph)


def test_int8_shared_qparams_reshape_and_roll_run(tmp_path):
    """A flatten after a quantized mul and a roll's slices + concat share their input's quantization
    parameters (one observer per shared group, replaced as a group by edgekit's ranges): XNNPACK takes
    them as quantized ops and the program initializes (before: "Failed to create squeeze node",
    xnn_status_invalid_parameter, and the roll's slices left outside)."""
    import torch
    from torch import nn

    from edgekit.analysis.accuracy import tensor_error
    from edgekit.analysis.census_executorch import census
    from edgekit.exporters.base import ExportOptions
    from edgekit.exporters.executorch import ExecuTorchExporter
    from edgekit.models.layers import HSwish
    from edgekit.runtimes.executorch_runner import ExecuTorchRunner

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.pool = nn.Sequential(nn.ReLU6(), nn.AdaptiveAvgPool2d(1), HSwish())
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            x = x + 0.5 * torch.cat([x[:, 3:], x[:, :3]], dim=1)
            return self.fc(self.pool(x).flatten(1))

    torch.manual_seed(0)
    net = Net().eval()
    x = np.random.default_rng(0).standard_normal((8, 8, 8, 8)).astype(np.float32)
    opts = ExportOptions("executorch", precision="int8", calib=x, calib_method="minmax")
    ExecuTorchExporter().convert(net, torch.zeros(1, 8, 8, 8), [tmp_path / "n.pte"], opts)
    d = census(tmp_path / "n.pte")["delegate"]
    assert d["partitions"] == 1 and d["default_kernel_ops"] == 0, d
    assert d["delegated_by_type"]["XNNStaticSlice"] == 2 and d["delegated_by_type"]["XNNStaticReshape"] >= 1
    y = ExecuTorchRunner(tmp_path / "n.pte").run(x[:1])[0]
    with torch.no_grad():
        ref = net(torch.from_numpy(x[:1])).numpy()
    assert tensor_error(ref, y)["cosine"] > 0.999


@pytest.mark.slow  # PT2E calibration + INT8 lowering + 449 runs: several minutes
def test_int8_digits_within_half_a_point(digits_fixture, tmp_path):
    from edgekit.analysis.census_executorch import census
    from edgekit.analysis.accuracy import tensor_error, topk_accuracy
    from edgekit.calibration import load_calibration
    from edgekit.exporters.base import ExportOptions
    from edgekit.exporters.executorch import ExecuTorchExporter
    from edgekit.models.source import load_model
    from edgekit.rewrite.pipeline import rewrite_for_export
    from edgekit.runtimes.executorch_runner import ExecuTorchRunner
    import torch

    f = digits_fixture
    model, card = load_model(f["model"], weights=f["weights"], input_size=f["input_size"])
    x_cal, _ = load_calibration(f["train"], card, size=128, seed=0)
    x, y = load_calibration(f["test"], card)
    net, _ = rewrite_for_export(model.eval(), tuple(card.input_size), target="executorch")
    path = tmp_path / "d.pte"
    opts = ExportOptions("executorch", precision="int8", calib=x_cal, calib_method="minmax")
    meta = ExecuTorchExporter().convert(net, torch.zeros(1, *card.input_size), [path], opts)
    q = meta["quantization"]
    assert q["calib_method"] == "minmax" and q["own_ranges_tensors"] == q["activation_observers"] > 20
    assert q["per_channel_weights"] >= 20 and q["n_float"] == 0
    c = census(path)
    d = c["delegate"]
    # INT8 fully delegated: one XNNPACK call, no compute op on ExecuTorch's portable kernels
    assert d["partitions"] == 1 and d["default_kernel_ops"] == 0 and d["fully_delegated"], d
    assert c["instructions"].get("DelegateCall") == 1 and "KernelCall" not in c["instructions"], c["instructions"]
    assert d["delegated_by_type"]["XNNConv2d"] >= 40
    r = ExecuTorchRunner(path)
    logits = np.concatenate([r.run(x[i:i + 1])[0] for i in range(len(x))])
    with torch.no_grad():
        ref = np.concatenate([model(torch.from_numpy(x[i:i + 1])).numpy() for i in range(len(x))])
    fp32 = topk_accuracy(ref, y).top1
    int8 = topk_accuracy(logits, y).top1
    cosine = tensor_error(ref, logits)["cosine"]
    print(f"digits FP32 {fp32:.2f} INT8 {int8:.2f} cosine {cosine:.4f} census {d['delegated_by_type']}")
    assert len(y) == 449 and abs(fp32 - f["test_top1"]) <= 0.25  # one sample: 0.22 pt
    assert fp32 - int8 <= 0.5, (fp32, int8)
    assert cosine >= 0.99


def test_model_that_cannot_be_exported_is_one_line(tmp_path):
    from edgekit.errors import EdgekitError
    from edgekit.exporters.pipeline import export_model

    src = tmp_path / "net.py"
    src.write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x * 2 if x.sum() > 0 else x - 1  # data-dependent control flow\n"
        "def build():\n"
        "    return Net()\n")
    with pytest.raises(EdgekitError) as e:
        export_model(f"{src}:build", "executorch", input_shape=(3, 8, 8), out=tmp_path / "n.pte", rewrite=False)
    msg = str(e.value)
    assert msg.startswith("ExecuTorch cannot export the model") and "\n" not in msg
    assert not (tmp_path / "n.pte").exists()


def test_fp16_is_refused_in_one_line_and_all_skips_it(tmp_path):
    from edgekit.errors import EdgekitError
    from edgekit.exporters.pipeline import export_model

    with pytest.raises(EdgekitError, match=r"^--target executorch does not support fp16 in this build \(it does fp32, int8\)$"):
        export_model("micronet-m0", "executorch", precision="fp16", out=tmp_path)


def test_user_head_mean_is_delegated(tmp_path):
    """`x.mean((2, 3))` in a user's head: ExecuTorch's XNNPACK partitioner delegates only the keepdim form;
    the exporter rewrites it (keepdim_spatial_means), so the program is one delegate call, parity unchanged.
    Without it: 2 partitions, aten::mean.out on portable kernels (checked below on the bare program)."""
    import torch
    from torch import nn

    from edgekit.analysis.census_executorch import census
    from edgekit.exporters.executorch import keepdim_spatial_means, lower_to_pte

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    m, x = Head().eval(), torch.randn(1, 3, 16, 16)
    bare = torch.export.export(m, (x,), strict=False)
    (tmp_path / "bare.pte").write_bytes(lower_to_pte(bare))
    assert census(tmp_path / "bare.pte")["delegate"]["default_kernel_ops"] == 1
    fixed = torch.export.export(m, (x,), strict=False)
    assert keepdim_spatial_means(fixed.graph_module) == 1
    torch.testing.assert_close(fixed.module()(x), m(x), rtol=0, atol=1e-6)
    (tmp_path / "fixed.pte").write_bytes(lower_to_pte(fixed))
    d = census(tmp_path / "fixed.pte")["delegate"]
    assert (d["partitions"], d["default_kernel_ops"]) == (1, 0), d

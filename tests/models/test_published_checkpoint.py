"""The published-checkpoint path: a MicroNet checkpoint saved exactly the way the reference
training does (DataParallel `module.` keys inside {'epoch','arch','state_dict','best_prec1',
'optimizer'}) loads through `create_model` and `edgekit flops --weights`, and computes the same
function as the model that was saved."""

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from edgekit.models import create_model


@pytest.fixture(scope="module")
def reference_checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    model = create_model("micronet-m0")
    model.train()
    wrapped = nn.DataParallel(model)  # on CPU: no replicas, but the same `module.` state_dict keys
    opt = torch.optim.SGD(wrapped.parameters(), lr=0.05, momentum=0.9, weight_decay=4e-5)
    x = torch.randn(8, 3, 64, 64)
    target = torch.randint(0, 1000, (8,))
    for _ in range(2):  # a couple of real steps: weights, BatchNorm statistics and momentum buffers move
        opt.zero_grad()
        nn.functional.cross_entropy(wrapped(x), target).backward()
        opt.step()
    state = wrapped.state_dict()
    assert next(iter(state)).startswith("module.")
    path = tmp_path_factory.mktemp("ckpt") / "model_best.pth.tar"
    torch.save({"epoch": 2, "arch": "micronet_m0", "state_dict": state, "best_prec1": torch.tensor(46.6),
                "optimizer": opt.state_dict()}, path)
    return model.eval(), path


def test_create_model_computes_the_same_function(reference_checkpoint):
    original, path = reference_checkpoint
    loaded = create_model("micronet-m0", weights=str(path))
    x = torch.randn(3, 3, 96, 96, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))
    assert loaded.card.num_classes == 1000
    for key, value in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_cli_flops_with_weights(reference_checkpoint):
    _, path = reference_checkpoint
    proc = subprocess.run([sys.executable, "-m", "edgekit", "flops", "micronet-m0", "--weights", str(path), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["params"], result["conv_madds"], result["dynamic_madds"]) == (1_019_590, 3_448_880, 605_248)
    assert result["madds_target"] == 4_000_000

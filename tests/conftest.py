import os

import pytest

# Deterministic, single-threaded numerics in every test process.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def digits_fixture(tmp_path_factory):
    """A micronet-m0 (10 classes, 32x32) genuinely trained on scikit-learn's digits, built once per session.

    Dict with weights (.pth), train / test .npz (x uint8 N,32,32,3; y labels), test_top1 and
    model / num_classes / input_size (see scripts/train_digits_fixture.py).
    """
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_digits_fixture.py"
    spec = importlib.util.spec_from_file_location("train_digits_fixture", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.train(tmp_path_factory.mktemp("digits"))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the xdist_group marks into the node ids
def pytest_collection_modifyitems(config, items):
    """Groups for pytest-xdist (`--dist loadgroup`, set in pyproject): a test file stays on one worker, so its
    module fixtures (an export shared by a file's tests) are built once; every test that talks to the loopback
    sshd or the emulated board shares one worker, because they count the device's temporary directories
    before and after and start one sshd per session. Without xdist the marks do nothing."""
    for item in items:
        path = item.nodeid.split("::")[0]
        group = "remote" if path.startswith("tests/remote/") or item.get_closest_marker("remote") else path
        item.add_marker(pytest.mark.xdist_group(group))

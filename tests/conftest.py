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

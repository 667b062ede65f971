import pytest
import torch

from edgekit.rewrite.permute_channels import PermuteChannels, grid_matrix, realization
from edgekit.rewrite.verify import op_census


def _check(perm, channels_last=False, kind=None):
    p = PermuteChannels(perm, channels_last)
    if kind:
        assert p.kind == kind
    x = torch.randn(1, len(perm), 5, 3)
    assert torch.equal(p(x), x[:, perm])
    census = op_census(p, (len(perm), 5, 3))
    assert census.gathers == 0 and census.max_rank <= 4
    return p


def test_identity_and_roll():
    _check(torch.arange(12), kind="identity")
    _check(torch.roll(torch.arange(12), 5), kind="slices")


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("grid", [(1, 4, 6, 1), (1, 3, 4, 2), (2, 3, 4, 1), (1, 2, 8, 3)])
def test_grid_transposes(grid, channels_last):
    c = grid[0] * grid[1] * grid[2] * grid[3]
    _check(grid_matrix(c, grid), channels_last, kind="transpose")


def test_channel_shuffle_pair_and_fallback_conv():
    c = 24
    two = grid_matrix(c, (1, 4, 6, 1))[grid_matrix(c, (1, 3, 8, 1))]
    assert realization(two) in ("transpose", "transpose2")
    _check(two)
    g = torch.Generator().manual_seed(0)
    rnd = torch.randperm(c, generator=g)
    p = _check(rnd)
    assert p.kind == "conv"  # a random permutation of 24 has no cheap form; exact all the same

"""ExecuTorch's thread pool is process-wide: programs of different thread counts in one process.

A reset of the pool destroys the pool that programs loaded before it run on; running one of them was
undefined ("XNN Runtime invoke failed with code: xnn_status_invalid_state", then a segfault, measured with
M0 programs at 1 and 2 threads interleaved). The runner reloads a program whose pool was reset, and
`edgekit bench` / device_bench time one count at a time.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("executorch")


@pytest.fixture(scope="module")
def pte_and_reference(tmp_path_factory):
    import torch
    from torch import nn

    from edgekit.exporters.executorch import export_program, lower_to_pte

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1, groups=4),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    path = tmp_path_factory.mktemp("et") / "net.pte"
    with torch.no_grad():
        path.write_bytes(lower_to_pte(export_program(net, torch.zeros(1, 3, 32, 32))))
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    return path, x, ref


def test_runners_of_two_counts_interleaved_stay_correct(pte_and_reference):
    from edgekit.runtimes.executorch_runner import ExecuTorchRunner, portable_lib

    path, x, ref = pte_and_reference
    one, two = ExecuTorchRunner(path, threads=1), ExecuTorchRunner(path, threads=2)  # two's load resets the pool
    for _ in range(3):
        for runner, n in ((one, 1), (two, 2)):
            y = runner.run(x)[0]
            assert portable_lib()._threadpool_get_thread_count() == n
            np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)
    assert one.reloads == 3 and two.reloads == 3  # each switch of the pool reloads the runner that runs next
    same = ExecuTorchRunner(path, threads=2)
    same.run(x), two.run(x), same.run(x)
    assert same.reloads == 0 and two.reloads == 3  # same count: the pool is not reset, nothing reloads


def test_bench_times_one_count_at_a_time(pte_and_reference):
    from edgekit.runtimes import device_bench as db
    from edgekit.runtimes.bench import benchmark_files

    path, _, _ = pte_and_reference
    results = benchmark_files([path], threads=[1, 2], warmup=2, runs=20)
    assert [r["threads"] for r in results] == [1, 2]
    for r in results:
        assert r["interleaved_with"] == 1 and r["threads_note"] == db.SEQUENTIAL_NOTE and r["runs"] == 20
    # the script a device runs: same rule, the device's own loader
    device = db.bench_threads(str(path), "executorch", threads=(1, 2), warmup=2, runs=20)
    assert [(r["threads"], r["interleaved_with"], r["runs"]) for r in device] == [(1, 1, 20), (2, 1, 20)]
    assert device[1]["threads_note"] == db.SEQUENTIAL_NOTE and "speedup_vs_1_thread" in device[1]

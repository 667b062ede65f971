"""Sweeps: which model, input size, target, precision and thread count to ship on a device.

    grid.py      the sweep file (TOML) → cells and the plan (cells, exports, device-seconds)
    cache.py     exports cached by model, weights (content hash) and options
    work.py      the work of one export and one bench, shared by both engines
    store.py     the append-only JSON-lines results file (one record per cell, fsync'd)
    engine_local.py  exports in parallel processes, timed runs serialized per device
    engine_ray.py    the same on a Ray cluster (optional extra `ray`)
    select.py    the best cell under a budget, the runners-up, and why the others were out
    report.py    accuracy vs latency (Pareto), latency vs MAdds ranking, thread scaling
"""

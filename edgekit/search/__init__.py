"""Search under a device's latency budget: latency tables measured through edgekit's own export, a
validated predictor, and a DA-NAS-style supernet search.

    space.py     the space file (TOML): stem, stages of candidate blocks, head; shapes chained
    blocks.py    the blocks as torch modules (MicroNet / Shift-Max J,K / DY-ReLU / DY-Conv)
    arch.py      architectures as files: file.py:build modules and arch.json
    lut.py       `edgekit lut`: every distinct (block, input shape) exported and timed, per device
    predict.py   Σ block entries + a per-runtime correction; validation (RMSPE, ±5 % / ±10 %)
"""

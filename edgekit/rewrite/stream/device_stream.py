"""Run a step model over a video ON THE DEVICE, carrying the state there (`edgekit stream FILE --ssh`).

    python device_stream.py MODEL VIDEO.npz OUT.npz [--runtime auto] [--threads 1]

Copied next to device_bench.py (whose runtime loaders it uses) and needs only numpy and one runtime:
no edgekit. MODEL's sidecar (MODEL.edgekit.json, copied with it) has the `stream` entry: frames per
step, delay, outputs, states. VIDEO.npz holds `x`, the float32 video (1, C, T, ...). The states start
at zero in the file's own dtype and shape and each step's new states are fed back as they come out;
OUT.npz gets `y_0`, `y_1`, ... — the aligned outputs (output time k = index k, as `edgekit stream`
writes them locally); one JSON line on stdout says what ran. Errors: `error: ...` on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import device_bench as db  # noqa: E402  (uploaded next to this script)


def stream(path: str, video_npz: str, out_npz: str, runtime: str = "auto", threads: int = 1) -> dict:
    try:
        with open(path + ".edgekit.json") as fh:
            entry = json.load(fh)["stream"]
        with np.load(video_npz) as data:
            video = np.ascontiguousarray(data["x"], dtype=np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise db.BenchError(f"cannot read the step model's stream entry or the video: {db.error_line(exc)}") from None
    name = db.pick_runtime(path, runtime)
    db.preimport_runtime(name)
    try:
        version, specs, make_run = db.LOADERS[name][0](path, threads)
    except Exception as exc:  # the runtimes raise their own types for corrupt files
        raise db.BenchError(f"{name} cannot load {path}: {db.error_line(exc)}") from None
    s, delay, n_out = int(entry["frames_per_step"]), int(entry["delay_steps"]), len(entry["outputs"])
    if len(specs) != 1 + len(entry["states"]):
        raise db.BenchError(f"{os.path.basename(path)} has {len(specs)} inputs; its stream entry describes "
                            f"{1 + len(entry['states'])}")
    states = [np.zeros(shape, dtype=dtype) for _, shape, dtype in specs[1:]]
    per = [[] for _ in range(n_out)]
    n = video.shape[2] // s
    t0 = time.perf_counter()
    for i in range(n):
        res = make_run.predict([np.ascontiguousarray(video[:, :, i * s:(i + 1) * s]), *states])
        states = [np.asarray(r).reshape(st.shape).astype(st.dtype, copy=False) for r, st in zip(res[n_out:], states)]
        if i >= delay:
            for j in range(n_out):
                per[j].append(np.asarray(res[j]))
    seconds = time.perf_counter() - t0
    axis = [2 if o.get("kind") == "temporal" else 1 for o in entry["outputs"]]
    ys = {f"y_{j}": (np.concatenate(o, 2) if axis[j] == 2 else np.stack(o, 1)) if o else np.zeros((0,), np.float32)
          for j, o in enumerate(per)}
    np.savez(out_npz, **ys)
    return {"kind": "stream", "runtime": name, "runtime_version": version, "model": os.path.basename(path),
            "steps": n, "ms_per_step": round(1000 * seconds / max(n, 1), 3), "host": db.host_info(),
            "emulated": db.emulation(), "interpreter": db.interpreter_info()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("video")
    ap.add_argument("out")
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    try:
        print(json.dumps(stream(a.model, a.video, a.out, a.runtime, a.threads)))
    except db.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

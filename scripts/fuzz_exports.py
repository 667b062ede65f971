"""Random-weight checkpoints through the real export path: the float64 proof must hold and parity
must stay within 1e-4 x output scale, whatever the weights (issue 13's acceptance run).

    python scripts/fuzz_exports.py                      # M0-M3 x 20 weight sets x onnx, tflite, openvino
    python scripts/fuzz_exports.py --models micronet-m0 --seeds 3 --targets onnx --size 97 --json

Each weight set is written as a checkpoint in the published layout ({'state_dict': {'module.…'}},
as the reference training script saves it) and exported with `edgekit export MODEL --weights CKPT`
in-process (export_model, the function the CLI calls). Weights: the zoo's initialisation under the
seed, BatchNorm statistics set from random data as training would (outputs of order 1).
The property tests (tests/rewrite/test_fuzz_exactness.py) use `build` from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

MICRONETS = ("micronet-m0", "micronet-m1", "micronet-m2", "micronet-m3")


def build(name: str, seed: int, input_shape, conditioned: bool = True):
    """Zoo model `name` initialised under `seed`; BatchNorm statistics from data when `conditioned`."""
    import torch

    import edgekit.models.zoo  # noqa: F401
    from edgekit.models.conditioning import condition_batchnorm
    from edgekit.models.registry import create_model

    torch.manual_seed(seed)
    model = create_model(name)
    if conditioned:
        condition_batchnorm(model, tuple(input_shape), seed=seed)
    return model.eval()


def published_checkpoint(model, path: Path) -> Path:
    """`model`'s weights as the reference release saves them: DataParallel keys in a training dict."""
    import torch

    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 150, "arch": "micronet", "state_dict": state, "best_prec1": 0.0}, path)
    return path


def run(models, seeds, targets, size, workdir: Path, progress=print) -> list[dict]:
    from edgekit.errors import EdgekitError
    from edgekit.exporters.pipeline import export_model

    rows = []
    for seed in range(seeds):  # seeds outside: a partial run covers every model
        for name in models:
            ckpt = published_checkpoint(build(name, 1000 + seed, (3, size, size)), workdir / f"{name}-{seed}.pth")
            for target in targets:
                t0 = time.perf_counter()
                row = {"model": name, "seed": 1000 + seed, "target": target, "size": size}
                try:
                    res = export_model(name, target, weights=str(ckpt), input_size=size, out=workdir / f"{seed}/",
                                       force=True, n_parity=4)
                    meta = res.exports[0].meta
                    row |= {"ok": bool(meta["parity"]["ok"]), "parity": meta["parity"]["rel_max_abs_diff"],
                            "exact_diff": max(r.get("exact_diff", 0.0) for r in meta["rewrites"]),
                            "float32_diff": max(r["max_abs_diff"] for r in meta["rewrites"])}
                except EdgekitError as exc:
                    row |= {"ok": False, "error": str(exc)}
                row["seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
                progress(json.dumps(row))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MICRONETS))
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--targets", default="onnx,tflite,openvino")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--json", action="store_true", help="one JSON line per export on stdout (default: also a summary)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgekit-fuzz-") as tmp:
        rows = run(args.models.split(","), args.seeds, args.targets.split(","), args.size, Path(tmp))
    bad = [r for r in rows if not r["ok"]]
    if not args.json:
        worst = max((r.get("parity", 0.0) for r in rows), default=0.0)
        exact = max((r.get("exact_diff", 0.0) for r in rows), default=0.0)
        print(f"{len(rows) - len(bad)}/{len(rows)} exports ok; worst parity {worst:.2e} x output scale; "
              f"worst float64 difference {exact:.1e}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""`edgekit stream FILE --video clip.npy|frames/`: run a step model over a video on its runtime, carrying state."""

from __future__ import annotations

from pathlib import Path

import typer

from edgekit.cli.common import JsonOpt, console, print_json
from edgekit.errors import EdgekitError

EXAMPLES = """Examples:

  edgekit export s3d-small --stream --target tflite

  edgekit stream s3d-small-stream.tflite --video clip.npy -o scores.npy

  edgekit stream tan-small-stream.onnx --video frames/ --json

  edgekit stream s3d-small-stream.tflite --video clip.npy --ssh pi@raspberrypi -o scores.npz

A .npy video is float (C, T, H, W) or (1, C, T, H, W) already normalised, (C, T) for a sequence model,
or uint8 (T, H, W, C) frames normalised with the card's mean/std; frames/ holds one image (or .npy
H×W×C uint8 frame) per time step, in name order. Output time k comes out of step k + delay_steps; the
outputs written are aligned (index k = output time k). With --ssh the steps run on the device
(python3, numpy and the runtime there; EDGEKIT_SSH_PYTHON names another interpreter), which
carries the state; only the outputs come back. Exit codes: 0 done, 2 bad input (nothing written).
"""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".npy")


def _normalise(frames, card: dict):
    """uint8 (T, H, W, C) → float32 (1, C, T, H, W): /255, the card's mean/std."""
    import numpy as np

    x = frames.astype(np.float32) / 255.0
    mean = np.asarray(card.get("mean") or (0.0,) * x.shape[-1], dtype=np.float32)
    std = np.asarray(card.get("std") or (1.0,) * x.shape[-1], dtype=np.float32)
    if mean.shape[0] != x.shape[-1]:
        raise EdgekitError(f"the frames have {x.shape[-1]} channels, the model's card {mean.shape[0]}")
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)[None])


def load_video(path: str, card: dict):
    import numpy as np

    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise EdgekitError(f"{p}/ holds no frames ({', '.join(IMAGE_SUFFIXES)})")
        frames = []
        for f in files:
            if f.suffix.lower() == ".npy":
                a = np.load(f, allow_pickle=False)
            else:
                try:
                    from PIL import Image
                except ModuleNotFoundError:
                    raise EdgekitError("reading image frames needs Pillow: pip install pillow (or give .npy frames)") from None
                a = np.asarray(Image.open(f).convert("RGB"))
            if frames and a.shape != frames[0].shape:
                raise EdgekitError(f"frame {f.name} is {a.shape}, the first frame {frames[0].shape}: all frames must "
                                   "have one size")
            frames.append(a)
        return _normalise(np.stack(frames), card)
    if not p.is_file():
        raise EdgekitError(f"video not found: {p}")
    if p.suffix.lower() != ".npy":
        raise EdgekitError(f"--video {p}: expected a .npy array or a directory of frames")
    try:
        a = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise EdgekitError(f"cannot read {p}: {exc}") from None
    if a.dtype == np.uint8:
        if a.ndim != 4:
            raise EdgekitError(f"{p}: uint8 frames must be (T, H, W, C), got shape {a.shape}")
        return _normalise(a, card)
    if a.ndim in (2, 4):
        a = a[None]
    return np.ascontiguousarray(a, dtype=np.float32)


def stream_cmd(
    file: str = typer.Argument(..., metavar="FILE", help="A step model (edgekit export --stream)."),
    video: str = typer.Option(..., "--video", help="clip.npy or a directory of frames."),
    runtime: str = typer.Option("auto", "--runtime", help="auto (by extension), onnxruntime, litert, openvino, executorch."),
    threads: int = typer.Option(1, "--threads", min=1, max=1024, help="Intra-op threads."),
    output: str = typer.Option(None, "--output", "-o", help="Write the aligned outputs: .npy (one output) or .npz."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing --output."),
    ssh: str = typer.Option(None, "--ssh", metavar="USER@HOST[:PORT]",
                            help="Run on a device over SSH (key auth), carrying the state there."),
    ssh_key: str = typer.Option(None, "--ssh-key", help="Private key for --ssh."),
    json_out: bool = JsonOpt,
):
    """Run step model FILE over a video on its runtime, carrying the state from step to step."""
    import time

    import numpy as np

    from edgekit.artifact import read_sidecar
    from edgekit.fileio import atomic_outputs, check_writable
    from edgekit.runtimes.stream_runner import StreamRunner, stream_entry

    out_path = Path(output) if output else None
    if out_path is not None:
        if out_path.suffix.lower() not in (".npy", ".npz"):
            raise EdgekitError(f"-o {output}: write a .npy (one output) or .npz file")
        check_writable([out_path], force)
    if not Path(file).is_file():
        raise EdgekitError(f"model file not found: {file}")
    entry = stream_entry(file)
    meta = read_sidecar(file)
    x = load_video(video, meta.get("card") or {})
    if ssh_key and not ssh:
        raise EdgekitError("--ssh-key needs --ssh")
    names = [o["name"] for o in entry["outputs"]]
    if out_path is not None and out_path.suffix.lower() == ".npy" and len(names) > 1:
        raise EdgekitError(f"-o {output}: the model has {len(names)} outputs ({', '.join(names)}); write a .npz")
    remote = None
    if ssh:
        from types import SimpleNamespace

        from edgekit.rewrite.stream.remote import stream_over_ssh

        runner = SimpleNamespace(chunk_shape=tuple(entry["input"]["shape"]), frames_per_step=int(entry["frames_per_step"]),
                                 delay_steps=int(entry["delay_steps"]))
        n_steps = StreamRunner.check_video(runner, x)  # refused here, before anything reaches the device
        outs, remote = stream_over_ssh(ssh, file, x, runtime, ssh_key, threads=threads)
        runner.runtime = remote.get("runtime")
        seconds = (remote.get("ms_per_step") or 0) * n_steps / 1000
    else:
        runner = StreamRunner(file, runtime=runtime, threads=threads, entry=entry)
        n_steps = runner.check_video(x)
        t0 = time.perf_counter()
        outs = runner.run_video(x)
        seconds = time.perf_counter() - t0
    if out_path is not None:
        with atomic_outputs(out_path, force=force) as (tmp,):
            with open(tmp, "wb") as fh:
                if out_path.suffix.lower() == ".npy":
                    np.save(fh, outs[0])
                else:
                    np.savez(fh, **dict(zip(names, outs)))
    result = {"file": str(file), "runtime": runner.runtime, "video": str(video), "frames": int(x.shape[2]),
              "frames_per_step": runner.frames_per_step, "steps": n_steps, "delay_steps": runner.delay_steps,
              "outputs": {n: list(o.shape) for n, o in zip(names, outs)},
              "ms_per_step": round(1000 * seconds / n_steps, 3), "state_bytes": entry.get("state_bytes"),
              "madds_per_step": entry.get("madds_per_step"), "written": str(out_path) if out_path else None}
    if remote is not None:
        result.update(where=f"ssh://{remote['device']['target']}", runtime_version=remote.get("runtime_version"),
                      device={**(remote.get("host") or {}), **remote["device"], "interpreter": remote.get("interpreter")},
                      emulated=remote.get("emulated"))
    if json_out:
        print_json(result)
        return
    where = f" on {result['where'][len('ssh://'):]}" if remote is not None else ""
    console.print(f"{file} on {runner.runtime}{where}: {n_steps} steps of {runner.frames_per_step} frames "
                  f"({x.shape[2]} frames), delay {runner.delay_steps} steps, {result['ms_per_step']} ms/step",
                  highlight=False, markup=False, soft_wrap=True)
    if result.get("emulated"):
        console.print(f"EMULATED ({result['emulated']}): ms/step is not a latency", highlight=False, markup=False)
    for n, o in zip(names, outs):
        console.print(f"  {n}: {tuple(o.shape)} (output times 0..{max(0, n_steps - runner.delay_steps) - 1})",
                      highlight=False, markup=False, soft_wrap=True)
    if out_path is not None:
        console.print(f"wrote {out_path}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("stream", epilog=EXAMPLES)(stream_cmd)

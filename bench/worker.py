"""One configuration at one frame count, in its own process: build, warm up, time, report one JSON line.

A fresh process per measurement keeps each configuration's peak memory its own.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.env import setup  # noqa: E402

RESULT_PREFIX = "BENCH_RESULT "


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--device", choices=("cpu", "cuda"), required=True)
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs in this process; the fastest counts")
    parser.add_argument("--profile", action="store_true", help="time the run under cProfile (adds overhead)")
    parser.add_argument("--decode", choices=("batched", "whole"), default="batched",
                        help="batched: as the shipped workflows (MagicAnimate Decode Frames: one frame per VAE "
                             "decode on a CPU, by free memory on a GPU); whole: one VAEDecode of every frame")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> dict:
    """Build, warm up (``warmup_steps`` on the same video), then time ``repeats`` sampling runs (fastest counts;
    the machine is shared and bursts of other work only ever add time)."""
    import comfy.model_management
    import torch

    from bench.memory import PeakMemory
    from bench.pipelines import CONFIGS
    from bench.sizes import SIZES

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    device = comfy.model_management.get_torch_device()
    built = time.perf_counter()
    with torch.inference_mode():
        prepared = CONFIGS[args.config](size, args.frames)
        latent = {"samples": torch.zeros(args.frames, 4, size.latent, size.latent)}
        build_s = time.perf_counter() - built
        if args.warmup_steps > 0:
            prepared.run(latent, args.warmup_steps)
        memory = PeakMemory(device)
        memory.reset()
        profile = None
        if args.profile:
            from bench.profiling import profile_run

            result: list = []
            profile = profile_run(lambda: result.append(prepared.run(latent, args.steps)))
            out, seconds = result[0], profile["wall_s"]
        else:
            times = []
            for _ in range(max(args.repeats, 1)):
                start = time.perf_counter()
                out = prepared.run(latent, args.steps)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            seconds = min(times)
        sampling_mib = memory.peak_mib()  # the peak before the decode
        # inside the peak: the whole run, every frame decoded
        decode_s = decode(out, device, whole=args.decode == "whole")
    return {"profile": profile, "decode_s": decode_s, "peak_sampling_mib": sampling_mib,
        "config": args.config, "frames": args.frames, "steps": args.steps, "size": args.size,
        "decode": args.decode, "seconds": seconds, "all_seconds": [seconds] if args.profile else times,
        "s_per_frame_step": seconds / (args.frames * args.steps),
        "peak_mib": memory.peak_mib(), "memory_kind": memory.kind(), "build_s": build_s,
        "finite": bool(torch.isfinite(out).all()), "device": str(device), "threads": torch.get_num_threads(),
    }


def decode(samples, device, whole: bool = False) -> float:
    """Decode every frame as the shipped workflows do (``magic_core.decode``, what MagicAnimate Decode Frames
    runs; ``whole``: one core VAEDecode of every frame); returns the seconds it took."""
    import nodes
    import torch

    from bench.models import vae
    from magic_core.decode import decode_frames

    model = vae()
    start = time.perf_counter()
    if whole:
        images = nodes.VAEDecode().decode(model, {"samples": samples})[0]
    else:
        images = decode_frames(model, {"samples": samples}, progress=False)[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    assert images.shape[0] == samples.shape[0]
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    setup(args.device)
    print(RESULT_PREFIX + json.dumps(measure(args)), flush=True)


if __name__ == "__main__":
    main()

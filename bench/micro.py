"""Micro-measurements behind the overheads named in BENCHMARKS.md (one process, CPU size by default).

    python3 scripts/host.py run -- python bench/micro.py [--size cpu] [--frames 16]

* the DensePose ControlNet's hint embedding (``input_hint_block``) vs the whole ControlNet forward: the hint
  embedding depends only on the DensePose frames, yet ``cldm.ControlNet.forward`` recomputes it every call;
* the cross-frame GroupNorm wrapper's per-call module walk (``cross_frame_norms``) and hook (un)registration.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.env import setup  # noqa: E402


def best_of(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="cpu")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    setup("cpu")
    import torch

    from bench import models
    from bench.sizes import SIZES
    from magic_core.temporal import cross_frame_norms

    torch.set_num_threads(args.threads)
    size, frames = SIZES[args.size], args.frames
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        control = models.controlnet_model(size)
        hint = torch.rand(frames, 3, size.pixels, size.pixels, generator=gen)
        x = torch.randn(frames, 4, size.latent, size.latent, generator=gen)
        t = torch.full((frames,), 500.0)
        context = torch.randn(frames, size.text_tokens, size.context_dim, generator=gen)
        whole = best_of(lambda: control(x=x, hint=hint, timesteps=t, context=context))
        emb = control.time_embed(torch.zeros(frames, size.model_channels))
        hint_only = best_of(lambda: control.input_hint_block(hint, emb, context))
        print(f"ControlNet forward, {frames} frames: {whole:.4f} s; input_hint_block alone: {hint_only:.4f} s "
              f"({100 * hint_only / whole:.1f}% of the forward, recomputed every step and window)")

        base = models.base_model(size)
        unet = base.model.diffusion_model
        walk = best_of(lambda: cross_frame_norms(unet), 20)
        print(f"cross_frame_norms(unet) module walk: {1000 * walk:.2f} ms per model call "
              f"({len(cross_frame_norms(unet))} norms)")


if __name__ == "__main__":
    main()

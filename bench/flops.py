"""Arithmetic per frame-step of each configuration: the load-independent side of the time ratios.

    python3 scripts/host.py run -- python bench/flops.py [--size cpu] [--frames 32] [--configs floor full ...]

Counts the floating-point operations of one sampling step (matrix products, convolutions, attention) with
``torch.utils.flop_counter.FlopCounterMode``, in this process, for each configuration of ``bench/pipelines.py``.
Two configurations' FLOP ratio is what their time ratio would be if every operation ran at the same speed:
a time ratio cannot go below it without removing arithmetic (changing the model or its algorithm).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.env import setup  # noqa: E402

DEFAULT_CONFIGS = ("floor", "full", "naive", "temporal_only", "control_only", "appearance_only")


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """PyTorch's CPU flash kernel is not in the counter's registry: q·kᵀ and attention·v, 2 FLOPs a MAC."""
    batch, heads, queries, dim = query_shape
    keys, value_dim = key_shape[-2], value_shape[-1]
    return 2 * batch * heads * queries * keys * (dim + value_dim)


def count(config: str, size_name: str, frames: int, steps: int = 1) -> float:
    """FLOPs per frame-step of one sampling run of ``config`` (``steps`` steps, ``frames`` frames)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench.pipelines import CONFIGS
    from bench.sizes import SIZES

    size = SIZES[size_name]
    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    mapping = {cpu_sdpa: _sdpa_cpu_flops} if cpu_sdpa is not None else {}
    with torch.inference_mode():
        prepared = CONFIGS[config](size, frames)
        latent = {"samples": torch.zeros(frames, 4, size.latent, size.latent)}
        counter = FlopCounterMode(display=False, custom_mapping=mapping)
        with counter:
            prepared.run(latent, steps)
    return counter.get_total_flops() / (frames * steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="cpu")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    args = parser.parse_args(argv)
    setup("cpu")
    import torch

    torch.set_num_threads(1)
    found = {c: count(c, args.size, args.frames) for c in args.configs}
    base = found.get("floor")
    print(f"| configuration ({args.frames} frames, 1 step, size {args.size}) | GFLOP / frame-step | ÷ floor |")
    print("| --- | ---: | ---: |")
    for config, flops in found.items():
        ratio = f"{flops / base:.3f}" if base else "n/a"
        print(f"| {config} | {flops / 1e9:.2f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

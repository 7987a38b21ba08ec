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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.env import setup  # noqa: E402

DEFAULT_CONFIGS = ("floor", "full", "naive", "temporal_only", "control_only", "appearance_only")


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """PyTorch's CPU flash kernel is not in the counter's registry: q·kᵀ and attention·v, 2 FLOPs a MAC."""
    batch, heads, queries, dim = query_shape
    keys, value_dim = key_shape[-2], value_shape[-1]
    return 2 * batch * heads * queries * keys * (dim + value_dim)


# Attention's arithmetic grows with the width (at fixed token counts), matrix products' and convolutions' with its
# square; the counter's operator names sort them.
ATTENTION_OPS = ("_scaled_dot_product", "bmm", "baddbmm")


@dataclass(frozen=True)
class Flops:
    """FLOPs per frame-step of one configuration, at steady state (per-run work such as hint embeddings excluded)."""

    attention: float
    other: float
    per_run: float  # the one-off FLOPs of a sampling run, per frame

    @property
    def total(self) -> float:
        return self.attention + self.other

    def at_width(self, factor: float) -> float:
        """The same per frame-step at ``factor`` times every width (attention x factor, the rest x factor²)."""
        return self.attention * factor + self.other * factor**2


def _run_flops(prepared, latent: dict, steps: int) -> tuple[float, float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    counter = FlopCounterMode(display=False, custom_mapping={cpu_sdpa: _sdpa_cpu_flops} if cpu_sdpa else {})
    with counter:
        prepared.run(latent, steps)
    by_op = counter.get_flop_counts()["Global"]
    attention = sum(v for op, v in by_op.items() if any(str(op).split(".")[-1].startswith(a) for a in ATTENTION_OPS))
    return attention, counter.get_total_flops() - attention


def count(config: str, size_name: str, frames: int) -> Flops:
    """FLOPs per frame-step of ``config``: after a warm-up run, a 2-step run minus a 1-step run (per-run work
    such as the DensePose hint embeddings cancels; it is reported as ``per_run``)."""
    import torch

    from bench.pipelines import CONFIGS
    from bench.sizes import SIZES

    size = SIZES[size_name]
    with torch.inference_mode():
        prepared = CONFIGS[config](size, frames)
        latent = {"samples": torch.zeros(frames, 4, size.latent, size.latent)}
        _run_flops(prepared, latent, 1)  # the first run also does once-per-model work (the reference's VAE encode)
        one_attention, one_other = _run_flops(prepared, latent, 1)
        two_attention, two_other = _run_flops(prepared, latent, 2)
    attention, other = two_attention - one_attention, two_other - one_other
    per_run = (one_attention + one_other) - (attention + other)
    return Flops(attention / frames, other / frames, per_run / frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="cpu")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--to-width", type=int, default=320,
                        help="also estimate each configuration at this UNet base width (SD1.5: 320)")
    args = parser.parse_args(argv)
    setup("cpu")
    import torch

    from bench.sizes import SIZES

    torch.set_num_threads(1)
    factor = args.to_width / SIZES[args.size].model_channels
    found = {c: count(c, args.size, args.frames) for c in args.configs}
    base = found.get("floor")
    print(f"{args.frames} frames, size {args.size} ({SIZES[args.size].describe()}); per frame-step at steady "
          f"state; estimate at base width {args.to_width}: attention x{factor:g}, the rest x{factor**2:g}")
    print()
    print("| configuration | GFLOP / frame-step | of which attention | ÷ floor | per-run GFLOP / frame | "
          f"estimate at width {args.to_width}: ÷ floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for config, flops in found.items():
        ratio = f"{flops.total / base.total:.3f}" if base else "n/a"
        wide = f"{flops.at_width(factor) / base.at_width(factor):.3f}" if base else "n/a"
        print(f"| {config} | {flops.total / 1e9:.2f} | {100 * flops.attention / flops.total:.0f}% | {ratio} | "
              f"{flops.per_run / 1e9:.2f} | {wide} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ComfyUI's attention functions side by side, in one process, at the UNet's self-attention shapes of a size.

    python3 scripts/host.py run -- python bench/attention.py [--size cpu] [--frames 16] [--threads 1]

On CPU ComfyUI's ``CrossAttention`` uses ``optimized_attention`` (sub-quadratic unless PyTorch attention is
enabled); this measures sub-quadratic, PyTorch SDPA, split and basic on the same tensors (one window, cond +
uncond rows) for every level of the UNet, interleaved, the fastest of the repeats counting, and says how much
each differs from SDPA.  The load average is printed with the times (the machine may be shared).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.env import setup  # noqa: E402

KERNELS = ("attention_sub_quad", "attention_pytorch", "attention_split", "attention_basic")


def shapes(size, frames: int) -> list[tuple[str, int, int, int]]:
    """(label, batch rows, tokens, channels) of the self-attention at each UNet level (cond + uncond rows)."""
    out = []
    for level, mult in enumerate((1, 2, 4)):
        side = size.latent >> level
        out.append((f"level {level}: {side}x{side}", 2 * frames, side * side, size.model_channels * mult))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="cpu")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    setup("cpu")
    import comfy.ldm.modules.attention as attention
    import torch

    from bench.sizes import SIZES

    torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    print(f"size {size.name}: {size.describe()}; {args.frames}-frame window x cond/uncond; {args.threads} thread(s); "
          f"load average before {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"ComfyUI's optimized_attention here: {attention.optimized_attention.__name__}")
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for label, rows, tokens, channels in shapes(size, args.frames):
            q, k, v = (torch.randn(rows, tokens, channels, generator=gen) for _ in range(3))
            best = {name: float("inf") for name in KERNELS}
            outs = {}
            for _ in range(args.repeats):
                for name in KERNELS:
                    fn = getattr(attention, name)
                    start = time.perf_counter()
                    outs[name] = fn(q, k, v, size.heads)
                    best[name] = min(best[name], time.perf_counter() - start)
            ref = outs["attention_pytorch"]
            cells = ", ".join(f"{name.removeprefix('attention_')} {1000 * best[name]:.1f} ms "
                              f"(x{best[name] / best['attention_pytorch']:.2f}, "
                              f"max diff {float((outs[name] - ref).abs().max()):.1e})" for name in KERNELS)
            print(f"{label}, {rows} rows x {tokens} tokens x {channels} ch: {cells}")
    print(f"load average after {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

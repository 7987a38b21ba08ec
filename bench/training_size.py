"""Real-size training steps: stage 1 or 2 at 512x512, batch 1, gradient checkpointing, on a full-size SD1.5-shaped
random base (UNet 320/640/1280/1280 with cross-attention 768; a 1-layer 768-wide CLIP; the cell VAE), through the
pack's ``Trainer``.  Prints one JSON line: seconds per step (after the first) and the process's peak RSS.

    python3 scripts/host.py run -- python bench/training_size.py --stage 1 --steps 3 DIR

Estimated at about 26 GB of free RAM for stage 1 and 18 GB for stage 2 on CPU (fp32 weights, gradients and AdamW);
stage 2 was killed for memory with 21 GiB free on a 24 GiB machine, so the estimate is low.
Run one stage per process: the peak RSS is the process's.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--stage", type=int, choices=(1, 2), default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--clip-frames", type=int, default=2)
    parser.add_argument("--model-channels", type=int, default=320, help="320 = SD1.5 (smaller: a smoke test)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from magic_core.training.__main__ import _bootstrap_comfyui

    _bootstrap_comfyui()
    import torch

    from magic_core.training import figure_set as fs
    from magic_core.training.cell_vae import cell_vae
    from magic_core.training.config import TrainConfig
    from magic_core.training.models import BaseModels, text_embedding
    from magic_core.training.pretrain import new_small_base
    from magic_core.training.tiny_base import TINY_CLIP, TINY_UNET
    from magic_core.training.trainer import Trainer

    folder = Path(args.folder)
    data = folder / "data"
    if not data.is_dir():
        fs.write_figure_dataset(data, fs.make_split(people=2, stills=2), with_captions=False)
    clip_config = dict(TINY_CLIP, hidden_size=768, projection_dim=768, num_hidden_layers=1, num_attention_heads=8)
    vae = cell_vae()
    # SD1.5's own layout: the tiny base's block structure at SD1.5's widths, cross-attention and heads
    unet = dict(TINY_UNET, model_channels=args.model_channels, channel_mult=[1, 2, 4, 4], context_dim=768, num_heads=8)
    patcher, clip = new_small_base(vae, 0, unet=unet, clip=clip_config)
    base = BaseModels(patcher, vae, text_embedding(clip, ""), clip)
    config = TrainConfig(stage=args.stage, data_root=str(data), output_dir=str(folder / f"stage{args.stage}"),
                         width=args.size, height=args.size, batch_size=1, clip_frames=args.clip_frames,
                         tau1=0.0, tau2=0.0, max_steps=1, save_every=10 ** 6, mixed_precision="no",
                         gradient_checkpointing=True, progress_bar=False, reference_drop_prob=0.0)
    trainer = Trainer(config, base)
    times = []
    with trainer._models_on_device():
        for _ in range(args.steps):
            started = time.perf_counter()
            trainer.train_step()
            times.append(time.perf_counter() - started)
    result = {"stage": args.stage, "size": args.size, "model_channels": args.model_channels, "steps": args.steps,
              "clip_frames": args.clip_frames,
              "threads": torch.get_num_threads(), "first_step_s": round(times[0], 1),
              "seconds_per_step": round(sum(times[1:]) / max(1, len(times) - 1), 1),
              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
              "trainable_parameters": sum(p.numel() for m in trainer.models.trainable.values()
                                          for p in m.parameters())}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

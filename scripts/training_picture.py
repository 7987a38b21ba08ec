"""Render the README's training picture: reference | DensePose | generated before training | after training.

    python3 scripts/host.py run -- python scripts/training_picture.py DIR OUT.png

``DIR`` is a ``make-synthetic --figures --base`` folder whose runs were written to ``DIR/stage1`` and
``DIR/stage2`` (the README's walk-through).  "Before" samples the pretrained base alone, "after" with the
stage-1 exports (and stage 2's temporal modules when present), 20 DDIM steps at CFG 1, held-out items.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(folder: str, out: str, items: int = 3) -> None:
    sys.path.insert(0, str(REPO))
    from magic_core.training.__main__ import _bootstrap_comfyui

    _bootstrap_comfyui()
    import torch

    from magic_core.training.config import TrainConfig
    from magic_core.training.generate import generate
    from magic_core.training.models import load_base_models
    from magic_core.training.previews import load_validation_set, save_png
    from magic_core.training.synthetic_base import BASE_NAME

    torch.set_num_threads(1)
    root = Path(folder)
    data = load_validation_set(root / "validation", 128, 128)
    weights = "diffusion_pytorch_model.safetensors"
    exports = {"appearance_encoder": root / "stage1/MagicAnimate/appearance_encoder" / weights,
               "densepose_controlnet": root / "stage1/MagicAnimate/densepose_controlnet" / weights,
               "temporal_attention": root / "stage2/MagicAnimate/temporal_attention/temporal_attention.safetensors"}
    trained = {k: str(v) for k, v in exports.items() if v.is_file()}
    rows = []
    for i in range(0, data.targets.shape[0], max(1, data.targets.shape[0] // items))[:items]:
        base = load_base_models(TrainConfig(base_checkpoint=str(root / "base" / BASE_NAME)))
        reference, pose = data.references[i:i + 1], data.densepose[i:i + 1]
        before = generate(base.model, base.clip, base.vae, reference, pose, seed=i)
        after = generate(base.model, base.clip, base.vae, reference, pose, seed=i, **trained)
        rows.append(torch.cat([reference[0], pose[0], before[0], after[0]], dim=1))
    save_png(torch.cat(rows, dim=0), Path(out))
    print(f"{out}: reference | DensePose | before | after ({', '.join(trained)})")


if __name__ == "__main__":
    main(*sys.argv[1:3])

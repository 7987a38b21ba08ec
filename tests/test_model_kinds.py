"""The loaders list the files of their kind first (by folder name, then safetensors header keys), all files kept."""
from __future__ import annotations

import torch
from safetensors.torch import save_file

from magic_core.model_kinds import APPEARANCE, CONTROLNET, TEMPORAL, file_kind, order_by_kind


def _write(path, keys):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.zeros(1) for k in keys}, str(path))
    return path


def test_kind_from_folder_names_and_header_keys(tmp_path):
    files = {
        "MagicAnimate/densepose_controlnet/diffusion_pytorch_model.safetensors": ["controlnet_cond_embedding.x"],
        "MagicAnimate/appearance_encoder/diffusion_pytorch_model.safetensors": ["down_blocks.0.attentions.0.x"],
        "MagicAnimate/temporal_attention/temporal_attention.ckpt": None,   # pickles are judged by name only
        "renamed/a.safetensors": ["down_blocks.0.motion_modules.0.x"],
        "renamed/b.safetensors": ["controlnet_down_blocks.0.weight"],
        "renamed/c.safetensors": ["down_blocks.0.resnets.0.conv1.weight"],
        "renamed/lora.safetensors": ["lora_unet_down_blocks_0.alpha"],
        "renamed/unknown.ckpt": None,
    }
    paths = {}
    for name, keys in files.items():
        paths[name] = str(_write(tmp_path / name, keys) if keys else tmp_path / name)
    expected = [CONTROLNET, APPEARANCE, TEMPORAL, TEMPORAL, CONTROLNET, APPEARANCE, "other", None]
    assert [file_kind(name, paths[name]) for name in files] == expected
    names = list(files)
    temporal = order_by_kind(names, TEMPORAL, paths.get)
    assert temporal[:2] == ["MagicAnimate/temporal_attention/temporal_attention.ckpt", "renamed/a.safetensors"]
    assert temporal[2] == "renamed/unknown.ckpt" and sorted(temporal) == sorted(names)   # nothing dropped
    appearance = order_by_kind(names, APPEARANCE, paths.get)
    assert appearance[:2] == ["MagicAnimate/appearance_encoder/diffusion_pytorch_model.safetensors",
                              "renamed/c.safetensors"]
    assert appearance[2] == "renamed/unknown.ckpt" and sorted(appearance) == sorted(names)


def test_unreadable_safetensors_is_of_unknown_kind(tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\xff" * 8 + b"not json")
    assert file_kind("broken.safetensors", str(broken)) is None
    assert file_kind("gone.safetensors", str(tmp_path / "gone.safetensors")) is None

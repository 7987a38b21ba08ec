"""A diffusers ``config.json`` turned into ComfyUI model arguments: the one conversion for every loader.

ComfyUI's shape-based detection only knows full-size configs; the ``config.json`` beside an official file
states the architecture exactly, so the appearance encoder (``UNet2DConditionModel``) and the DensePose
ControlNet (``ControlNetModel``) are built from it, real files and tiny test files alike.
"""
from __future__ import annotations

import json
import os
from typing import Any

from .checkpoints import CheckpointError

CROSS_ATTN_DOWN = "CrossAttnDownBlock2D"
PLAIN_DOWN = "DownBlock2D"
CROSS_ATTN_UP = "CrossAttnUpBlock2D"
PLAIN_UP = "UpBlock2D"
CROSS_ATTN_MID = "UNetMidBlock2DCrossAttn"
HINT_EMBEDDING_CHANNELS = [16, 32, 96, 256]  # the only hint embedding ComfyUI's cldm.ControlNet builds
FIXED_SETTINGS = (("time_embedding_type", "positional"), ("flip_sin_to_cos", True), ("freq_shift", 0),
                  ("class_embed_type", None), ("addition_embed_type", None), ("encoder_hid_dim", None),
                  ("norm_num_groups", 32), ("dual_cross_attention", False), ("only_cross_attention", False),
                  ("resnet_time_scale_shift", "default"), ("time_cond_proj_dim", None))


def read_config_json(path: str, part: str = "appearance encoder") -> dict[str, Any]:
    """The parsed ``config.json`` at ``path``; ``part`` (the model it describes) names it in errors."""
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"MagicAnimate {part}: the config '{path}' could not be read ({type(exc).__name__}: "
                              f"{exc}); copy config.json from the MagicAnimate release again.") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"MagicAnimate {part}: the config '{path}' is not a JSON object; copy config.json "
                              f"from the MagicAnimate release again.")
    return config


class _Checker:
    """Raises one wording for every unsupported setting of the config at ``path``."""

    def __init__(self, path: str, part: str, model_class: str):
        self.path, self.part, self.model_class = path, part, model_class

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            raise CheckpointError(f"MagicAnimate {self.part}: the config '{os.path.basename(self.path)}' {message}; "
                                  f"only SD1.5-style diffusers {self.model_class} configs are supported.")

    def per_block(self, value: Any, count: int, name: str) -> list[int]:
        values = list(value) if isinstance(value, (list, tuple)) else [value] * count
        self.require(len(values) == count and all(isinstance(v, int) and v > 0 for v in values),
                     f"has an invalid '{name}' ({value!r})")
        return values


def unet_config_from_diffusers(config: dict[str, Any], path: str = "config.json",
                               part: str = "appearance encoder") -> dict[str, Any]:
    """ComfyUI ``UNetModel`` keyword arguments equivalent to a diffusers ``UNet2DConditionModel`` config."""
    check = _Checker(path, part, "UNet2DConditionModel")
    unet_config, depth = _encoder_config(config, check)
    levels = len(depth)
    up_types = config.get("up_block_types", [])
    check.require(len(up_types) == levels, "lists a different number of up block types than block widths")
    check.require(set(up_types) <= {CROSS_ATTN_UP, PLAIN_UP}, f"uses up block types {up_types}")
    layers = unet_config["num_res_blocks"]
    # ComfyUI lists output depths by level (shallowest first) and pops from the end; diffusers' up_blocks
    # run deepest first, so up block i is level (levels - 1 - i).
    transformer_depth_output: list[int] = []
    for level in range(levels):
        kind = up_types[levels - 1 - level]
        transformer_depth_output += [depth[level] if kind == CROSS_ATTN_UP else 0] * (layers[level] + 1)
    unet_config["transformer_depth_output"] = transformer_depth_output
    unet_config["out_channels"] = int(config.get("out_channels", 4))
    return unet_config


def controlnet_unet_config(config: dict[str, Any], source: str = "config.json",
                           part: str = "DensePose ControlNet") -> dict[str, Any]:
    """ComfyUI ``cldm.ControlNet`` keyword arguments from a diffusers ``ControlNetModel`` config."""
    check = _Checker(source, part, "ControlNetModel")
    check.require(config.get("_class_name", "ControlNetModel") == "ControlNetModel",
                  f"is wrong: _class_name is {config.get('_class_name')!r}, expected 'ControlNetModel'")
    hint = list(config.get("conditioning_embedding_out_channels", HINT_EMBEDDING_CHANNELS))
    check.require(hint == HINT_EMBEDDING_CHANNELS,
                  f"sets conditioning_embedding_out_channels to {hint}, but it must be {HINT_EMBEDDING_CHANNELS}")
    unet_config, _ = _encoder_config(config, check)
    unet_config["transformer_depth_output"] = [0] * sum(n + 1 for n in unet_config["num_res_blocks"])
    return unet_config


def _encoder_config(config: dict[str, Any], check: _Checker) -> tuple[dict[str, Any], list[int]]:
    """The down/mid half both model classes share (input blocks, middle block, attention layout), and the
    transformer depth of each level."""
    widths = config.get("block_out_channels")
    check.require(isinstance(widths, list) and len(widths) > 0 and all(isinstance(w, int) and w > 0 for w in widths),
                  f"has no valid 'block_out_channels' ({widths!r})")
    base = widths[0]
    check.require(all(w % base == 0 for w in widths), f"has block widths {widths} that are not multiples of the "
                  f"first")
    levels = len(widths)
    down_types = config.get("down_block_types", [])
    check.require(len(down_types) == levels, "lists a different number of down block types than block widths")
    check.require(set(down_types) <= {CROSS_ATTN_DOWN, PLAIN_DOWN}, f"uses down block types {down_types}")
    check.require(config.get("mid_block_type", CROSS_ATTN_MID) == CROSS_ATTN_MID,
                  f"uses mid block '{config.get('mid_block_type')}'")
    for key, expected in FIXED_SETTINGS:
        check.require(config.get(key, expected) == expected, f"sets '{key}' to {config.get(key)!r}")
    layers = check.per_block(config.get("layers_per_block", 2), levels, "layers_per_block")
    depth = check.per_block(config.get("transformer_layers_per_block", 1) or 1, levels, "transformer_layers_per_block")
    num_heads, num_head_channels = _heads(config, widths, check)
    context_dim = config.get("cross_attention_dim")
    check.require(isinstance(context_dim, int) and context_dim > 0,
                  f"has an invalid 'cross_attention_dim' ({context_dim!r})")
    transformer_depth: list[int] = []
    for level, kind in enumerate(down_types):
        transformer_depth += [depth[level] if kind == CROSS_ATTN_DOWN else 0] * layers[level]
    return ({
        "use_checkpoint": False, "image_size": 32, "in_channels": int(config.get("in_channels", 4)),
        "model_channels": base, "num_res_blocks": layers, "channel_mult": [w // base for w in widths],
        "transformer_depth": transformer_depth, "transformer_depth_middle": depth[-1],
        "use_spatial_transformer": True, "legacy": False,
        "use_linear_in_transformer": bool(config.get("use_linear_projection", False)), "context_dim": context_dim,
        "num_heads": num_heads, "num_head_channels": num_head_channels, "adm_in_channels": None,
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }, depth)


def _heads(config: dict[str, Any], widths: list[int], check: _Checker) -> tuple[int, int]:
    """(num_heads, num_head_channels): one head count everywhere, or one head width (SD2-style per-block)."""
    heads = config.get("num_attention_heads") or config.get("attention_head_dim", 8)  # diffusers' naming quirk
    per_block = check.per_block(heads, len(widths), "attention_head_dim")
    if len(set(per_block)) == 1:
        return per_block[0], -1
    head_widths = {w // h for w, h in zip(widths, per_block, strict=True) if w % h == 0}
    check.require(len(head_widths) == 1 and all(w % h == 0 for w, h in zip(widths, per_block, strict=True)),
                  f"uses head counts {per_block} that give no single head width for widths {widths}")
    return -1, head_widths.pop()

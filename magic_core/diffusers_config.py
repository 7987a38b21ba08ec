"""The appearance encoder's architecture: a diffusers ``config.json`` turned into ComfyUI ``UNetModel`` arguments.

ComfyUI's shape-based detection only knows full-size configs; the ``config.json`` beside the official file
states the architecture exactly, so the encoder is built from it (real files and tiny test files alike).
"""
from __future__ import annotations

import json
import os
from typing import Any

CROSS_ATTN_DOWN = "CrossAttnDownBlock2D"
PLAIN_DOWN = "DownBlock2D"
CROSS_ATTN_UP = "CrossAttnUpBlock2D"
PLAIN_UP = "UpBlock2D"
CROSS_ATTN_MID = "UNetMidBlock2DCrossAttn"


class AppearanceConfigError(ValueError):
    """A ``config.json`` that does not describe an SD1.5-style UNet this pack can build."""


def read_config_json(path: str) -> dict[str, Any]:
    """The parsed ``config.json`` at ``path``, with a clear error when it is unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise AppearanceConfigError(f"The appearance encoder's config '{path}' could not be read "
                                    f"({type(exc).__name__}: {exc}); copy config.json from the MagicAnimate "
                                    f"release again.") from exc
    if not isinstance(config, dict):
        raise AppearanceConfigError(f"The appearance encoder's config '{path}' is not a JSON object.")
    return config


def _require(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise AppearanceConfigError(f"The appearance encoder's config '{os.path.basename(path)}' {message}; "
                                    f"only SD1.5-style UNet2DConditionModel configs are supported.")


def _per_block(value: Any, count: int, name: str, path: str) -> list[int]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * count
    _require(len(values) == count and all(isinstance(v, int) for v in values), path,
             f"has an invalid '{name}' ({value!r})")
    return values


def unet_config_from_diffusers(config: dict[str, Any], path: str = "config.json") -> dict[str, Any]:
    """ComfyUI ``UNetModel`` keyword arguments equivalent to a diffusers ``UNet2DConditionModel`` config."""
    widths = config.get("block_out_channels")
    _require(isinstance(widths, list) and len(widths) > 0 and all(isinstance(w, int) and w > 0 for w in widths),
             path, f"has no valid 'block_out_channels' ({widths!r})")
    base = widths[0]
    _require(all(w % base == 0 for w in widths), path, f"has block widths {widths} that are not multiples of "
             f"the first")
    down_types, up_types = config.get("down_block_types", []), config.get("up_block_types", [])
    levels = len(widths)
    _require(len(down_types) == levels and len(up_types) == levels, path,
             "lists a different number of down/up block types than block widths")
    _require(set(down_types) <= {CROSS_ATTN_DOWN, PLAIN_DOWN} and set(up_types) <= {CROSS_ATTN_UP, PLAIN_UP}, path,
             f"uses block types {down_types} / {up_types}")
    _require(config.get("mid_block_type", CROSS_ATTN_MID) == CROSS_ATTN_MID, path,
             f"uses mid block '{config.get('mid_block_type')}'")
    for key, expected in (("time_embedding_type", "positional"), ("flip_sin_to_cos", True), ("freq_shift", 0),
                          ("class_embed_type", None), ("addition_embed_type", None), ("encoder_hid_dim", None),
                          ("norm_num_groups", 32), ("dual_cross_attention", False), ("only_cross_attention", False),
                          ("resnet_time_scale_shift", "default"), ("time_cond_proj_dim", None)):
        _require(config.get(key, expected) == expected, path, f"sets '{key}' to {config.get(key)!r}")

    layers = _per_block(config.get("layers_per_block", 2), levels, "layers_per_block", path)
    depth = _per_block(config.get("transformer_layers_per_block", 1), levels, "transformer_layers_per_block", path)
    heads = config.get("num_attention_heads") or config.get("attention_head_dim", 8)  # diffusers' naming quirk
    heads_list = _per_block(heads, levels, "attention_head_dim", path)
    _require(len(set(heads_list)) == 1, path, f"uses different head counts per block ({heads_list})")
    context_dim = config.get("cross_attention_dim")
    _require(isinstance(context_dim, int) and context_dim > 0, path,
             f"has an invalid 'cross_attention_dim' ({context_dim!r})")

    transformer_depth: list[int] = []
    for level, kind in enumerate(down_types):
        transformer_depth += [depth[level] if kind == CROSS_ATTN_DOWN else 0] * layers[level]
    # ComfyUI lists output depths by level (shallowest first) and pops from the end; diffusers' up_blocks
    # run deepest first, so up block i is level (levels - 1 - i).
    transformer_depth_output: list[int] = []
    for level in range(levels):
        kind = up_types[levels - 1 - level]
        transformer_depth_output += [depth[level] if kind == CROSS_ATTN_UP else 0] * (layers[level] + 1)
    return {
        "use_checkpoint": False, "image_size": 32, "in_channels": int(config.get("in_channels", 4)),
        "out_channels": int(config.get("out_channels", 4)), "model_channels": base,
        "num_res_blocks": layers, "channel_mult": [w // base for w in widths],
        "transformer_depth": transformer_depth, "transformer_depth_output": transformer_depth_output,
        "transformer_depth_middle": depth[-1], "use_spatial_transformer": True, "legacy": False,
        "use_linear_in_transformer": bool(config.get("use_linear_projection", False)), "context_dim": context_dim,
        "num_heads": heads_list[0], "num_head_channels": -1, "adm_in_channels": None,
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }

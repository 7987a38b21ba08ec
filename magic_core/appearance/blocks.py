"""Which transformer blocks take part in reference attention, and how writer and reader blocks pair up.

A block is named the way ComfyUI names it in ``transformer_options`` while the UNet runs:
``(part, block_id, block_index)`` with part ``"input"``/``"middle"``/``"output"`` (the ``block`` entry) and
``block_index`` the transformer inside its SpatialTransformer.  The original collects the BasicTransformerBlocks
of the fused region in module order, sorts them (stably) by channel width, widest first, and pairs writer and
reader blocks in that order; :func:`pair_blocks` does the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from comfy.ldm.modules.attention import SpatialTransformer

from ..errors import MagicAnimateError

BlockKey = tuple[str, int, int]
FUSION_BLOCKS = {"midup": ("middle", "output"), "full": ("input", "middle", "output")}


@dataclass(frozen=True)
class TransformerBlockInfo:
    key: BlockKey
    width: int
    module_path: str  # e.g. "output_blocks.11.1.transformer_blocks.0"


def transformer_blocks(unet: torch.nn.Module) -> list[TransformerBlockInfo]:
    """Every BasicTransformerBlock of a ComfyUI ``UNetModel`` in execution order."""
    parts = [("input", "input_blocks", list(unet.input_blocks)), ("middle", "middle_block", [unet.middle_block]),
             ("output", "output_blocks", list(unet.output_blocks))]
    found: list[TransformerBlockInfo] = []
    for part, attr, blocks in parts:
        for block_id, block in enumerate(blocks):
            if block is None:
                continue
            for layer_id, layer in enumerate(block):
                if not isinstance(layer, SpatialTransformer):
                    continue
                prefix = f"{attr}.{block_id}.{layer_id}" if part != "middle" else f"{attr}.{layer_id}"
                for index, tb in enumerate(layer.transformer_blocks):
                    found.append(TransformerBlockInfo((part, block_id, index), int(tb.norm1.normalized_shape[0]),
                                                      f"{prefix}.transformer_blocks.{index}"))
    return found


def fused_blocks(blocks: list[TransformerBlockInfo], fusion_blocks: str) -> list[TransformerBlockInfo]:
    """The blocks of ``fusion_blocks`` (``midup``: mid + up blocks as the original; ``full``: all)."""
    if fusion_blocks not in FUSION_BLOCKS:
        raise MagicAnimateError(f"MagicAnimate appearance encoder: fusion_blocks '{fusion_blocks}' is not one of "
                                f"{sorted(FUSION_BLOCKS)}; pick midup (the original) or full.")
    return [b for b in blocks if b.key[0] in FUSION_BLOCKS[fusion_blocks]]


def pair_blocks(writers: list[TransformerBlockInfo], readers: list[TransformerBlockInfo]) -> dict[BlockKey, BlockKey]:
    """Reader block -> writer block, paired in order after a stable sort by width (widest first)."""
    w_sorted = sorted(writers, key=lambda b: -b.width)
    r_sorted = sorted(readers, key=lambda b: -b.width)
    widths_w, widths_r = [b.width for b in w_sorted], [b.width for b in r_sorted]
    if widths_w != widths_r:
        raise MagicAnimateError(f"MagicAnimate appearance encoder: it does not fit this model: its reference blocks "
                                f"have widths {widths_w} but the model's have {widths_r}. Use an SD1.5 model with the "
                                f"SD1.5 appearance encoder.")
    return {r.key: w.key for r, w in zip(r_sorted, w_sorted, strict=True)}

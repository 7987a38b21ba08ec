"""The appearance encoder: a second SD1.5 UNet read once per step on the clean reference latent, whose
self-attention inputs join the keys/values of the denoising UNet's self-attention (reference attention).

``blocks`` (which transformer blocks pair up), ``loading`` (reading the encoder file), ``source`` (the reference
latent; ``fit``: its crop or pad), ``reference`` (recording the encoder's states and the attention that reads
them), ``patch`` (the clone).
"""
from .blocks import FUSION_BLOCKS, fused_blocks, pair_blocks, transformer_blocks
from .fit import REFERENCE_FITS
from .loading import AppearanceEncoder, appearance_encoder_from_state_dict, load_appearance_encoder
from .patch import apply_appearance_encoder
from .reference import ReferenceAttentionPatch, ReferenceBank, record_write_side, run_encoder
from .source import ReferenceLatentSource

__all__ = ["FUSION_BLOCKS", "REFERENCE_FITS", "AppearanceEncoder", "ReferenceAttentionPatch", "ReferenceBank",
           "ReferenceLatentSource", "appearance_encoder_from_state_dict", "apply_appearance_encoder", "fused_blocks",
           "load_appearance_encoder", "pair_blocks", "record_write_side", "run_encoder", "transformer_blocks"]

"""The appearance encoder: a second SD1.5 UNet read once per step on the clean reference latent, whose
self-attention inputs join the keys/values of the denoising UNet's self-attention (reference attention).

``blocks`` (which transformer blocks pair up), ``loading`` (reading the encoder file), ``source`` (the reference
latent; ``fit``: its crop or pad), ``reference`` (recording the encoder's states and the attention that reads
them), ``patch`` (the clone).
"""
from .blocks import FUSION_BLOCKS
from .fit import REFERENCE_FITS
from .loading import AppearanceEncoder, load_appearance_encoder
from .patch import apply_appearance_encoder

__all__ = ["FUSION_BLOCKS", "REFERENCE_FITS", "AppearanceEncoder", "apply_appearance_encoder",
           "load_appearance_encoder"]

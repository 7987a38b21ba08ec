"""An exact "cell" VAE in ComfyUI's TAESD architecture: the latent of an image is the mean colour of each 8x8
cell through an orthonormal 3-to-4-channel map, and decoding paints each cell with the colour back.

It is a real ComfyUI VAE (``comfy.sd.VAE`` of a TAESD state dict), so it is saved in checkpoints and read by
every VAE node, yet nothing about it is learnt: block figures made of whole cells go through it without loss,
and what a model does in latent space can be read directly as colours.  Convolutions are set so that the
blocks are identities (their inner convolutions are zero and everything stays non-negative before each ReLU),
the strided convolutions average 2x2 and the upsampling convolutions copy; the tanh clamp at the decoder's
input is made linear by a small ``vae_scale``.
"""
from __future__ import annotations

import comfy.model_management
import comfy.sd
import comfy.taesd.taesd
import torch

SCALE_FACTOR = 0.18215  # SD1.5's latent scaling: the model sees VAE latents x this
VAE_SCALE = 1e-3        # decoder input = latent * VAE_SCALE: tanh(x/3)*3 is x to ~1e-7 relative
# an orthonormal 3 -> 4 map (three columns of a 4x4 Hadamard matrix / 2)
COLOUR_MAP = torch.tensor([[1., 1., 1.], [-1., 1., -1.], [1., -1., -1.], [-1., -1., 1.]]) / 2


def _identity_(conv: torch.nn.Conv2d, channels: int = 3, weight: float = 1.0) -> None:
    conv.weight.zero_()
    for c in range(channels):
        conv.weight[c, c, 1, 1] = weight


def _set_blocks_(module: torch.nn.Module) -> None:
    for block in module:
        if isinstance(block, comfy.taesd.taesd.Block):
            for layer in block.conv:
                if isinstance(layer, torch.nn.Conv2d):
                    layer.weight.zero_()
                    layer.bias.zero_()


@torch.no_grad()
def cell_vae_state_dict(latent_gain: float = 1.0 / SCALE_FACTOR) -> dict[str, torch.Tensor]:
    """The TAESD state dict of the cell VAE: model-space latent = ``COLOUR_MAP @ (2 rgb - 1)`` per cell."""
    taesd = comfy.taesd.taesd.TAESD(latent_channels=4)
    for p in taesd.parameters():
        p.zero_()
    encoder, decoder = taesd.taesd_encoder, taesd.taesd_decoder
    _set_blocks_(encoder)
    _set_blocks_(decoder)
    convs = [m for m in encoder if isinstance(m, torch.nn.Conv2d)]
    _identity_(convs[0])
    for down in convs[1:-1]:
        down.weight.zero_()
        for c in range(3):
            down.weight[c, c, 1:3, 1:3] = 0.25
    k = latent_gain * VAE_SCALE
    convs[-1].weight[:, :3, 1, 1] = 2 * k * COLOUR_MAP
    convs[-1].bias.copy_(-k * COLOUR_MAP.sum(1))
    dconvs = [m for m in decoder if isinstance(m, torch.nn.Conv2d)]
    dconvs[0].weight[:3, :, 1, 1] = COLOUR_MAP.T / (2 * latent_gain * VAE_SCALE)
    dconvs[0].bias[:3] = 0.5
    for up in dconvs[1:]:
        _identity_(up)
    taesd.vae_scale.fill_(VAE_SCALE)
    return {k: v.contiguous() for k, v in taesd.state_dict().items()}


class CellVAE(comfy.sd.VAE):
    """The cell VAE: a ComfyUI VAE holding the TAESD weights above (so it saves and loads like any VAE) whose
    ``encode``/``decode`` compute the same result directly (cell means and the colour map: the TAESD network
    spends ~10 GFLOP per 128x128 image on identity blocks)."""

    def __init__(self):
        super().__init__(sd=cell_vae_state_dict())

    def encode(self, pixel_samples: torch.Tensor) -> torch.Tensor:
        rgb = torch.nn.functional.avg_pool2d(pixel_samples[..., :3].movedim(-1, 1).float(), 8)
        latent = torch.einsum("lc,bchw->blhw", COLOUR_MAP, 2 * rgb - 1) / SCALE_FACTOR
        return latent.to(comfy.model_management.intermediate_device())

    def decode(self, samples_in: torch.Tensor, vae_options: dict | None = None) -> torch.Tensor:
        rgb = torch.einsum("lc,blhw->bchw", COLOUR_MAP, samples_in.float() * SCALE_FACTOR) * 0.5 + 0.5
        pixels = rgb.clamp(0, 1).repeat_interleave(8, 2).repeat_interleave(8, 3).movedim(1, -1)
        return pixels.to(comfy.model_management.intermediate_device())


def is_cell_vae(state_dict: dict[str, torch.Tensor]) -> bool:
    """Whether a TAESD state dict is exactly the cell VAE's."""
    reference = cell_vae_state_dict()
    return state_dict.keys() == reference.keys() and all(
        state_dict[k].shape == v.shape and torch.allclose(state_dict[k].float(), v, atol=1e-6)
        for k, v in reference.items())


def cell_vae() -> CellVAE:
    """The cell VAE as a ComfyUI VAE."""
    return CellVAE()

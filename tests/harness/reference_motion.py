"""The original's temporal UNet as an independent reference: diffusers' ``UNetMotionModel`` with the original's
GroupNorms, as the original: per-frame in the temporal modules, across the window's frames in ResBlocks and the
output norm (``cross_frame_norm``)."""
from __future__ import annotations

import torch

from .tiny_temporal import motion_adapter, original_to_diffusers


class PerFrameNorm(torch.nn.Module):
    """Stands for the original's temporal_transformer.norm: diffusers hands a 5-D tensor, normalise each frame."""

    def __init__(self, norm: torch.nn.GroupNorm):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        b, c, f, h, w = x.shape
        y = self.norm(x.transpose(1, 2).reshape(b * f, c, h, w))
        return y.reshape(b, f, c, h, w).transpose(1, 2)


class ExplicitVideoGroupNorm(torch.nn.Module):
    """Reference 5-D GroupNorm written out: statistics over (channels of the group, frames, H, W) per chunk."""

    def __init__(self, norm: torch.nn.GroupNorm, frames: int):
        super().__init__()
        self.norm, self.frames = norm, frames

    def forward(self, x):
        bf, c, h, w = x.shape
        g = self.norm.num_groups
        v = x.double().reshape(bf // self.frames, self.frames, g, c // g, h, w)
        mean = v.mean(dim=(1, 3, 4, 5), keepdim=True)
        var = v.var(dim=(1, 3, 4, 5), keepdim=True, unbiased=False)
        y = ((v - mean) / torch.sqrt(var + self.norm.eps)).reshape(bf, c, h, w)
        return (y * self.norm.weight.double()[None, :, None, None] + self.norm.bias.double()[None, :, None, None]
                ).to(x.dtype)


def motion_unet(unet2d, weights, cross_frame_norm: bool, frames: int):
    """``UNetMotionModel`` of ``unet2d`` with the pack-loaded temporal ``weights`` (a ``TemporalWeights``), for
    windows of ``frames`` frames."""
    from diffusers import UNetMotionModel

    adapter = motion_adapter(0, max_frames=weights.max_frames, mid_block=weights.has_mid_block)
    adapter.load_state_dict(original_to_diffusers(weights.state_dict), strict=True)
    model = UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    for module in list(model.modules()):
        if type(module).__name__ == "AnimateDiffTransformer3D":
            module.norm = PerFrameNorm(module.norm)
        if cross_frame_norm and hasattr(module, "norm1") and type(module).__name__ == "ResnetBlock2D":
            module.norm1 = ExplicitVideoGroupNorm(module.norm1, frames)
            module.norm2 = ExplicitVideoGroupNorm(module.norm2, frames)
    if cross_frame_norm:
        model.conv_norm_out = ExplicitVideoGroupNorm(model.conv_norm_out, frames)
    return model

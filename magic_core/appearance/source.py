"""The reference image as a clean latent of the video latent's size.

Resize rule: the first image of the reference batch is centre-cropped (``reference_fit`` ``crop``, the original's)
or padded with its edge pixels (``pad``) to the aspect ratio of the video latent and resized (bicubic) to the
latent size times the VAE's downscale factor, then encoded with the given VAE.
ComfyUI's ``VAE.encode`` of a KL autoencoder returns the posterior's mode, i.e. the latent mean, as the
original uses; the latent format's scale (0.18215 for SD1.5) is applied as the sampler does for latents.
The latent is kept (one size at a time) so it is encoded once, not per step or per window.
"""
from __future__ import annotations

import comfy.model_management
import comfy.utils
import torch

from ..errors import MagicAnimateError
from ..image_batch import check_frames
from ..notices import REFERENCE_BATCH, NoticeBoard, warn
from .fit import check_reference_fit, pad_to_aspect, say_crop


class ReferenceImageError(MagicAnimateError):
    """A reference image input that cannot be used."""


def check_reference_image(image: torch.Tensor, notices: NoticeBoard | None = None) -> torch.Tensor:
    """The first frame of ``image`` (``[B, H, W, C]``, 0..1) as ``[1, H, W, 3]``; clear errors otherwise, a
    warning on ``notices`` when a batch of several is given."""
    image = check_frames(image, "appearance encoder reference_image", "an image, e.g. from Load Image",
                         ReferenceImageError)
    if image.shape[0] > 1:
        warn(notices, REFERENCE_BATCH, count=image.shape[0])
    return image[:1]


class ReferenceLatentSource:
    """Encodes the reference image once per latent size with the given VAE."""

    def __init__(self, vae, image: torch.Tensor, fit: str = "crop", notices: NoticeBoard | None = None):
        self.vae = vae
        self.fit = check_reference_fit(fit)
        self.image = check_reference_image(image, notices)
        self._cached: tuple[tuple[int, int], torch.Tensor] | None = None

    def latent(self, size: tuple[int, int], base_model, keep_loaded: bool = False) -> torch.Tensor:
        """The clean reference latent ``[1, C, h, w]`` for latent size ``size = (h, w)``, scaled for ``base_model``.

        ``keep_loaded``: reload the models in use afterwards (when called during sampling).
        """
        size = (int(size[0]), int(size[1]))
        if self._cached is None or self._cached[0] != size:
            in_use = comfy.model_management.loaded_models(only_currently_used=True) if keep_loaded else []
            self._cached = (size, self._encode(size, base_model))
            if in_use:
                comfy.model_management.load_models_gpu(in_use)
        return self._cached[1]

    def say_fit(self, size: tuple[int, int], notices: NoticeBoard | None) -> None:
        """Warn on ``notices`` when ``crop`` takes much of the reference away for latent size ``size``."""
        if self.fit == "crop":
            ratio = int(self.vae.spacial_compression_encode())
            say_crop(tuple(self.image.shape[1:3]), (int(size[0]) * ratio, int(size[1]) * ratio), notices)

    def _encode(self, size: tuple[int, int], base_model) -> torch.Tensor:
        ratio = int(self.vae.spacial_compression_encode())
        height, width = size[0] * ratio, size[1] * ratio
        pixels = self.image.movedim(-1, 1).float()
        if self.fit == "pad":
            pixels = pad_to_aspect(pixels, (height, width))
        pixels = comfy.utils.common_upscale(pixels, width, height, "bicubic", "center").clamp(0.0, 1.0)
        latent = self.vae.encode(pixels.movedim(1, -1))
        if tuple(latent.shape[-2:]) != size:
            latent = torch.nn.functional.interpolate(latent.float(), size=size, mode="bilinear", align_corners=False)
        latent = base_model.process_latent_in(latent.float())
        return latent.to(comfy.model_management.intermediate_device())

"""The models of a training run, built with the pack's own inference code.

* the denoising UNet: a ComfyUI SD1.5 ``ModelPatcher`` (frozen), cloned and patched with the appearance
  encoder's read side (``ReferenceAttentionPatch``) and, in stage 2, the temporal modules
  (``apply_temporal_attention``);
* the appearance encoder: loaded by ``load_appearance_encoder`` (from a given file, or from the SD1.5 UNet's
  weights written in the release layout first, as the paper initialises it);
* the DensePose ControlNet: ComfyUI's ``cldm.ControlNet`` (from a given file through the pack's loader, or
  initialised from the UNet's encoder half with zero convolutions, as ControlNet training does);
* the temporal modules: ``MotionModuleSet`` (from a given file, or freshly initialised with zero ``proj_out``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import comfy.cldm.cldm
import comfy.model_patcher
import comfy.ops
import comfy.sd
import comfy.utils
import torch
from torch import nn

from ..appearance import (
    AppearanceEncoder,
    ReferenceAttentionPatch,
    fused_blocks,
    load_appearance_encoder,
    pair_blocks,
    transformer_blocks,
)
from ..densepose import load_densepose_controlnet
from ..diffusers_config import controlnet_unet_config, read_config_json, unet_config_from_diffusers
from ..temporal import (
    MotionModuleSet,
    TemporalWeights,
    apply_temporal_attention,
    load_temporal_file,
    motion_modules,
    new_temporal_weights,
)
from .config import ConfigError, TrainConfig
from .export import diffusers_controlnet_config, save_appearance_encoder

log = logging.getLogger(__name__)
BANK_KEY = "magicanimate_training_reference"
CUT_BLOCK = "up_blocks.3.attentions.2."
CUT_BLOCK_KEPT = ("norm.", "proj_in.", "transformer_blocks.0.norm1.")
FUSION_BLOCKS = "midup"


@dataclass
class BaseModels:
    """What the training run starts from: the SD1.5 model (weights in fp32), its VAE and the text embedding."""

    model: comfy.model_patcher.ModelPatcher
    vae: comfy.sd.VAE
    context: torch.Tensor  # [1, tokens, C]: the prompt's embedding
    clip: comfy.sd.CLIP | None = None  # encodes per-sample captions (image-text training)
    captions: dict[str, torch.Tensor] = field(default_factory=dict)

    def caption_embedding(self, caption: str | None) -> torch.Tensor:
        """``[1, tokens, C]`` of a caption (cached); ``None`` is the prompt's embedding."""
        if caption is None:
            return self.context
        if self.clip is None:
            raise ConfigError("MagicAnimate training: the data set has captions but the base models have no text "
                              "encoder to encode them")
        if caption not in self.captions:
            self.captions[caption] = text_embedding(self.clip, caption)
        return self.captions[caption]


@dataclass
class TrainingModels:
    """Everything the training forward pass uses; ``trainable`` are the modules the optimizer updates."""

    unet: comfy.model_patcher.ModelPatcher
    encoder: AppearanceEncoder
    controlnet: nn.Module
    temporal: MotionModuleSet | None
    writer_keys: list
    pairing: dict
    encoder_config: dict
    trainable: dict[str, nn.Module]
    frozen: dict[str, nn.Module]


def load_base_models(config: TrainConfig) -> BaseModels:
    """The SD1.5 checkpoint of ``config.base_checkpoint`` with its VAE and the prompt's embedding."""
    if not config.base_checkpoint:
        raise ConfigError("MagicAnimate training config: base_checkpoint (a full SD1.5 checkpoint file) is not set")
    from .tiny_base import base_architecture, load_described_checkpoint

    if not Path(config.base_checkpoint).is_file():
        raise ConfigError(f"MagicAnimate training config: base_checkpoint '{config.base_checkpoint}' does not exist")
    arch = base_architecture(config.base_checkpoint)
    if arch is not None:  # a small base described by the .json beside it
        model, clip, vae = load_described_checkpoint(config.base_checkpoint, arch)
    else:
        model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(
            config.base_checkpoint, output_vae=True, output_clip=True, model_options={"dtype": torch.float32})
        from .cell_vae import cell_vae, is_cell_vae

        if vae is not None and is_cell_vae(vae.get_sd()):  # the synthetic base's: computed directly, same result
            vae = cell_vae()
    if clip is None or vae is None:
        raise ConfigError(f"MagicAnimate training config: base_checkpoint '{config.base_checkpoint}' has no text "
                          f"encoder or no VAE; use a full SD1.5 checkpoint (UNet + CLIP + VAE)")
    return BaseModels(model, vae, text_embedding(clip, config.prompt), clip)


def text_embedding(clip: comfy.sd.CLIP, prompt: str) -> torch.Tensor:
    """The prompt's cross-attention embedding ``[1, tokens, C]`` (the original uses the empty prompt)."""
    with torch.no_grad():
        return clip.encode_from_tokens(clip.tokenize(prompt)).float().cpu()


def _reset_(module: nn.Module, seed: int) -> None:
    """PyTorch's default initialisation for every Linear/Conv/norm (ComfyUI's layers skip it), seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                nn.Linear.reset_parameters(layer)
            elif isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.Conv2d.reset_parameters(layer)
            elif isinstance(layer, (nn.GroupNorm, nn.LayerNorm)) and layer.weight is not None:
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)


def _zero_(module: nn.Module) -> None:
    for p in module.parameters():
        nn.init.zeros_(p)


# --- appearance encoder ------------------------------------------------------------------------------
def build_appearance_encoder(config: TrainConfig, base: BaseModels, work_dir: Path) -> AppearanceEncoder:
    """From ``config.appearance_encoder``, or the UNet's weights written in the release layout (the paper's init)."""
    if config.appearance_encoder:
        path = Path(config.appearance_encoder)
    else:
        unet = base.model.model.diffusion_model
        unet_config = base.model.model.model_config.unet_config
        path = save_appearance_encoder(unet.state_dict(), unet_config, work_dir / "init" / "appearance_encoder",
                                       skip_prefixes=_cut_block_prefixes(unet.state_dict(), unet_config))
        log.info("MagicAnimate training: appearance encoder initialised from the SD1.5 UNet (%s)", path)
    encoder = load_appearance_encoder(str(path))
    encoder.unet.float().train()
    encoder.compute_dtype = torch.float32
    return encoder


def _cut_block_prefixes(state: dict, unet_config: dict) -> tuple[str, ...]:
    """Diffusers names of what the original class leaves out of the last transformer block."""
    names = comfy.utils.unet_to_diffusers(unet_config)
    cut = {d for d in names if d.startswith(CUT_BLOCK) and not d[len(CUT_BLOCK):].startswith(CUT_BLOCK_KEPT)}
    return tuple(sorted(cut))


# --- DensePose ControlNet ----------------------------------------------------------------------------
def build_controlnet(config: TrainConfig, base: BaseModels) -> nn.Module:
    """From ``config.densepose_controlnet`` (pack loader), or from the UNet's encoder half with zero convolutions."""
    if config.densepose_controlnet:
        model = load_densepose_controlnet(config.densepose_controlnet).control_model
        return model.float().train()
    unet = base.model.model.diffusion_model
    cldm_config = controlnet_unet_config(diffusers_controlnet_config(base.model.model.model_config.unet_config))
    model = comfy.cldm.cldm.ControlNet(hint_channels=3, dtype=torch.float32, device="cpu",
                                       operations=comfy.ops.disable_weight_init, **cldm_config)
    _reset_(model, config.seed)
    own = model.state_dict()
    copied = {k: v for k, v in unet.state_dict().items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(copied, strict=False)
    _zero_(model.zero_convs)
    _zero_(model.middle_block_out)
    _zero_(model.input_hint_block[-1])
    log.info("MagicAnimate training: DensePose ControlNet initialised from the SD1.5 UNet (%d tensors copied)",
             len(copied))
    return model.train()


# --- temporal modules --------------------------------------------------------------------------------
def build_temporal(config: TrainConfig, unet_model: comfy.model_patcher.ModelPatcher) -> TemporalWeights:
    if config.temporal_attention:
        return load_temporal_file(config.temporal_attention)
    # New motion modules: PyTorch's default init, proj_out zero (the model starts as the image model).
    return new_temporal_weights(unet_model.model.diffusion_model, lambda modules: _reset_(modules, config.seed),
                                "temporal_attention (new)")


# --- everything --------------------------------------------------------------------------------------
def build_training_models(config: TrainConfig, base: BaseModels, work_dir: Path) -> TrainingModels:
    """The models of stage ``config.stage`` with the right parts frozen (``requires_grad``) and trainable."""
    encoder = build_appearance_encoder(config, base, work_dir)
    controlnet = build_controlnet(config, base)
    unet_model = base.model.clone()
    unet_model.set_model_attn1_patch(ReferenceAttentionPatch(BANK_KEY))
    unet = base.model.model.diffusion_model
    writers = fused_blocks(encoder.blocks, FUSION_BLOCKS)
    pairing = pair_blocks(writers, fused_blocks(transformer_blocks(unet), FUSION_BLOCKS))
    temporal = None
    if config.stage == 2:
        unet_model = apply_temporal_attention(unet_model, build_temporal(config, base.model), 1.0,
                                              config.cross_frame_norm)
        temporal = motion_modules(unet_model)
        temporal.float()
    base.model.model.requires_grad_(False)
    base.model.model.eval()
    if config.stage == 1:
        trainable = {"appearance_encoder": encoder.unet, "controlnet": controlnet}
        frozen = {"unet": base.model.model}
    else:
        trainable = {"temporal": temporal}
        frozen = {"unet": base.model.model, "appearance_encoder": encoder.unet, "controlnet": controlnet}
    for module in frozen.values():
        module.requires_grad_(False)
    for module in trainable.values():
        module.requires_grad_(True).train()
    return TrainingModels(unet_model, encoder, controlnet, temporal, [w.key for w in writers], pairing,
                          encoder_unet_config(config, base), trainable, frozen)


def encoder_unet_config(config: TrainConfig, base: BaseModels) -> dict:
    """The appearance encoder's architecture: its config.json, else the SD1.5 UNet's (initialised from it)."""
    beside = Path(config.appearance_encoder).parent / "config.json" if config.appearance_encoder else None
    if beside is not None and beside.is_file():
        return unet_config_from_diffusers(read_config_json(str(beside)), str(beside))
    return dict(base.model.model.model_config.unet_config)

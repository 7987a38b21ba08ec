"""Loading MagicAnimate's appearance encoder into a ComfyUI ``UNetModel`` in its own ModelPatcher.

Two file formats are accepted:

* the official release: ``appearance_encoder/diffusion_pytorch_model.safetensors`` (diffusers keys) with its
  ``config.json`` beside it; keys are mapped with ComfyUI's own ``comfy.utils.unet_to_diffusers``;
* a single-file ComfyUI-format UNet (``input_blocks.*`` keys, optionally under ``model.diffusion_model.``),
  whose architecture ComfyUI's detection recognises.

What is computed: the write side only needs the ``norm1`` outputs of the reference blocks, and the last one is
``norm1`` of the very last transformer block (``up_blocks.3.attentions.2``, ComfyUI ``output_blocks.11.1``).
The original class cuts that block down (its attn1/attn2/norm2/norm3/ff/proj_out are identities and absent
from the file) and has no output head.  Here those modules, the output head (``out``) and anything later are
replaced by ``Identity`` at load time (no weights, no memory) and the encoder run stops right after that
``norm1`` (see ``reference.run_encoder``), so nothing after it is ever computed.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import comfy.model_detection
import comfy.model_management
import comfy.model_patcher
import comfy.ops
import comfy.utils
import torch
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

from ..checkpoints import FileKind, read_state_dict
from ..diffusers_config import read_config_json, unet_config_from_diffusers
from ..notices import CHECKPOINT_AS_ENCODER, NoticeBoard, warn
from .blocks import BlockKey, TransformerBlockInfo, transformer_blocks

log = logging.getLogger(__name__)
COMFY_PREFIX = "model.diffusion_model."
PRUNED_IN_LAST_BLOCK = ("attn1", "attn2", "norm2", "norm3", "ff")
APPEARANCE_FILE = FileKind("appearance encoder", "MagicAnimate/appearance_encoder/diffusion_pytorch_model."
                           "safetensors with its config.json")


@dataclass
class AppearanceEncoder:
    """A loaded appearance encoder: its ModelPatcher, its transformer blocks and the dtype it computes in."""

    patcher: comfy.model_patcher.ModelPatcher
    blocks: list[TransformerBlockInfo]
    compute_dtype: torch.dtype
    name: str
    pruned: tuple[str, ...]

    @property
    def unet(self) -> UNetModel:
        return self.patcher.model

    def run_order(self, writer_keys: list[BlockKey]) -> list[BlockKey]:
        """``writer_keys`` in the order the encoder's run reaches them (its last one ends the run)."""
        wanted = set(writer_keys)
        return [b.key for b in self.blocks if b.key in wanted]


def load_appearance_encoder(path: str, notices: NoticeBoard | None = None) -> AppearanceEncoder:
    """Load the appearance encoder at ``path`` (official diffusers file + config.json, or ComfyUI UNet); a full
    SD checkpoint's UNet standing in for the encoder is a warning on ``notices``."""
    name = os.path.basename(path)
    state_dict = read_state_dict(path, APPEARANCE_FILE)
    if any("motion_modules" in k for k in state_dict):
        raise APPEARANCE_FILE.error(f"'{name}' is a temporal attention (motion module) file, not the appearance "
                                     f"encoder; pick MagicAnimate/appearance_encoder/diffusion_pytorch_model."
                                     f"safetensors.")
    if "controlnet_cond_embedding.conv_in.weight" in state_dict:
        raise APPEARANCE_FILE.error(f"'{name}' is a ControlNet (the DensePose ControlNet?), not the appearance "
                                     f"encoder; pick MagicAnimate/appearance_encoder/diffusion_pytorch_model."
                                     f"safetensors.")
    if "conv_in.weight" in state_dict and any(k.startswith("down_blocks.") for k in state_dict):
        unet_config, comfy_sd, unexpected = _from_diffusers(path, state_dict)
    elif any(k.startswith(("input_blocks.", COMFY_PREFIX + "input_blocks.")) for k in state_dict):
        unet_config, comfy_sd = _from_comfy(name, state_dict, notices)
        unexpected = []
    else:
        sample = ", ".join(sorted(state_dict)[:3])
        raise APPEARANCE_FILE.error(f"'{name}' is not a UNet checkpoint (its keys look like: {sample}); pick the "
                                     f"appearance encoder, MagicAnimate/appearance_encoder/diffusion_pytorch_"
                                     f"model.safetensors with its config.json.")
    encoder = appearance_encoder_from_state_dict(name, unet_config, comfy_sd, unexpected)
    # ComfyUI's MultiGPU clones (0.22+) rebuild the encoder per device from the file with this factory.
    encoder.patcher.cached_patcher_init = (_fresh_patcher, (path,))
    return encoder


def _fresh_patcher(path: str, **_: object) -> comfy.model_patcher.ModelPatcher:
    """A newly loaded encoder's ModelPatcher (the factory MultiGPU deep clones are made with)."""
    return load_appearance_encoder(path).patcher


def _from_diffusers(path: str, state_dict: dict[str, torch.Tensor]):
    config_path = os.path.join(os.path.dirname(path), "config.json")
    if not os.path.isfile(config_path):
        raise APPEARANCE_FILE.error(
            f"'{os.path.basename(path)}' is a diffusers-format UNet and needs its config.json beside it, but "
            f"'{config_path}' is missing; copy config.json from the release's appearance_encoder folder next to "
            f"the file.")
    unet_config = unet_config_from_diffusers(read_config_json(config_path, APPEARANCE_FILE.name), config_path)
    mapping = comfy.utils.unet_to_diffusers(unet_config)
    comfy_sd, unexpected = {}, []
    for key, value in state_dict.items():
        if key in mapping:
            comfy_sd[mapping[key]] = value
        else:
            unexpected.append(key)
    return unet_config, comfy_sd, unexpected


def _from_comfy(name: str, state_dict: dict[str, torch.Tensor], notices: NoticeBoard | None = None):
    if any(k.startswith(("first_stage_model.", "cond_stage_model.", "conditioner.")) for k in state_dict):
        warn(notices, CHECKPOINT_AS_ENCODER, name=name)
    if any(k.startswith(COMFY_PREFIX) for k in state_dict):
        state_dict = {k[len(COMFY_PREFIX):]: v for k, v in state_dict.items() if k.startswith(COMFY_PREFIX)}
    try:
        probe = _detection_probe(state_dict)
        model_config = comfy.model_detection.model_config_from_unet(probe, "")
    except Exception as exc:  # noqa: BLE001 - detection fails with KeyErrors on unusual files
        model_config = None
        log.debug("MagicAnimate: UNet detection of %s failed: %s", name, exc)
    if model_config is None:
        raise APPEARANCE_FILE.error(f"'{name}' looks like a ComfyUI-format UNet but its architecture was not "
                                     f"recognised; use the official diffusers file with its config.json.")
    return dict(model_config.unet_config), state_dict


def _detection_probe(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` plus shape-only stand-ins for what a cut-down encoder lacks (output head, the last block's
    cross-attention), which ComfyUI's detection reads shapes of."""
    probe = dict(state_dict)
    if "out.2.weight" not in probe:
        width, channels = probe["input_blocks.0.0.weight"].shape[:2]
        probe["out.2.weight"] = torch.empty((channels, width, 3, 3), device="meta")
    context_dim = next((v.shape[1] for k, v in probe.items() if k.endswith(".attn2.to_k.weight")), None)
    for key, value in state_dict.items():
        if key.endswith(".norm1.weight") and ".transformer_blocks." in key and context_dim is not None:
            attn2 = key[: -len("norm1.weight")] + "attn2.to_k.weight"
            probe.setdefault(attn2, torch.empty((value.shape[0], context_dim), device="meta"))
    return probe


def _prune(unet: UNetModel, last: TransformerBlockInfo) -> tuple[str, ...]:
    """Replace what runs after the last recorded ``norm1`` by ``Identity``; returns the replaced paths."""
    replaced = [f"{last.module_path}.{n}" for n in PRUNED_IN_LAST_BLOCK
                if getattr(unet.get_submodule(last.module_path), n, None) is not None]
    spatial_path = last.module_path.rsplit(".transformer_blocks.", 1)[0]
    spatial = unet.get_submodule(spatial_path)
    replaced.append(f"{spatial_path}.proj_out")
    later = range(last.key[2] + 1, len(spatial.transformer_blocks))
    replaced += [f"{spatial_path}.transformer_blocks.{i}" for i in later]
    part, block_id, _ = last.key
    if part == "output":
        block_path = f"output_blocks.{block_id}"
        layer_id = int(spatial_path.rsplit(".", 1)[1])
        replaced += [f"{block_path}.{i}" for i in range(layer_id + 1, len(unet.output_blocks[block_id]))]
        replaced += [f"output_blocks.{i}" for i in range(block_id + 1, len(unet.output_blocks))]
    replaced.append("out")
    for path in replaced:
        parent_path, _, attr = path.rpartition(".")
        setattr(unet.get_submodule(parent_path) if parent_path else unet, attr, torch.nn.Identity())
    return tuple(replaced)


def appearance_encoder_from_state_dict(name: str, unet_config: dict, comfy_sd: dict[str, torch.Tensor],
                                       unexpected: list[str] | None = None) -> AppearanceEncoder:
    """The appearance encoder (in its own ModelPatcher) from a ComfyUI-key UNet state dict and its UNet config;
    ``unexpected``: keys of the file already known not to fit (logged with the others).  Clear errors when the
    weights do not fit."""
    unexpected = list(unexpected or [])
    load_device = comfy.model_management.get_torch_device()
    offload_device = comfy.model_management.unet_offload_device()
    params = sum(v.numel() for v in comfy_sd.values())
    weight_dtype = next(iter(comfy_sd.values())).dtype
    dtype = comfy.model_management.unet_dtype(model_params=params, weight_dtype=weight_dtype)
    manual_cast = comfy.model_management.unet_manual_cast(dtype, load_device)
    operations = comfy.ops.pick_operations(dtype, manual_cast, load_device=load_device)
    unet = UNetModel(**unet_config, dtype=dtype, device=offload_device, operations=operations)
    blocks = transformer_blocks(unet)
    if not blocks:
        raise APPEARANCE_FILE.error(f"'{name}' describes a UNet without transformer blocks; it cannot be an "
                                     f"appearance encoder.")
    pruned = _prune(unet, blocks[-1])
    expected = set(unet.state_dict())
    usable = {k: v for k, v in comfy_sd.items() if k in expected}
    unexpected += [k for k in comfy_sd if k not in expected and not k.startswith(tuple(p + "." for p in pruned))]
    missing = sorted(expected - set(usable))
    if missing:
        raise APPEARANCE_FILE.error(f"'{name}' is not a complete appearance encoder: {len(missing)} weights are "
                                     f"missing (e.g. {', '.join(missing[:3])}); it does not match its config.json "
                                     f"or the download is incomplete.")
    if unexpected:
        log.warning("MagicAnimate: %d weights of %s are not used by the appearance encoder (e.g. %s).",
                        len(unexpected), name, ", ".join(unexpected[:3]))
    try:
        unet.load_state_dict(usable, strict=True)
    except RuntimeError as exc:
        raise APPEARANCE_FILE.error(f"the weights of '{name}' do not fit the architecture in its config "
                                     f"({str(exc).splitlines()[-1][:300]}).") from exc
    unet.eval()
    patcher = comfy.model_patcher.ModelPatcher(unet, load_device=load_device, offload_device=offload_device)
    log.info("MagicAnimate: appearance encoder %s loaded (%d transformer blocks; not computed: %s).", name,
                 len(blocks), ", ".join(pruned))
    return AppearanceEncoder(patcher, blocks, manual_cast or dtype, name, pruned)

"""Loading and checking temporal attention files (MagicAnimate's ``temporal_attention.ckpt`` and the public
AnimateDiff SD1.5 motion modules v1/v2/v3, which share its layout).

Every key and shape is checked before anything is built; each kind of wrong file gets its own message.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from ..checkpoints import FileKind, read_state_dict, strip_prefixes
from ..notices import TEMPORAL_SPATIAL_UNUSED, NoticeBoard, warn
from .module import GROUPS, HEADS, sinusoidal_encoding

PREFIXES = ("module.", "unet.", "model.diffusion_model.")
SLOT_RE = re.compile(r"^((?:down_blocks|up_blocks)\.\d+\.motion_modules\.\d+|mid_block\.motion_modules\.\d+)\.(.+)$")
SD15_DOWN_BLOCKS, SD15_DOWN_LAYERS, SD15_UP_LAYERS = 4, 2, 3
ATTN = "temporal_transformer.transformer_blocks.0.attention_blocks"
BLOCK = "temporal_transformer.transformer_blocks.0"
CONTROLNET_MARKERS = ("controlnet_cond_embedding", "input_hint_block", "controlnet_down_blocks", "zero_convs",
                      "controlnet_mid_block", "middle_block_out")
TEMPORAL_FILE = FileKind("temporal attention", "MagicAnimate/temporal_attention/temporal_attention.ckpt")
SD_MARKERS = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.", "conditioner.",
              "conv_in.weight", "input_blocks.0.0.weight", "time_embedding.linear_1.weight")


@dataclass
class TemporalWeights:
    """A checked temporal attention file: canonical keys (no prefixes), one width per motion module."""

    name: str
    state_dict: dict[str, torch.Tensor]
    widths: dict[str, int]
    max_frames: int
    variant: str
    unused_spatial: int = 0  # the file's other (spatial UNet) weights, left unread (the release holds 686)
    built: dict = field(default_factory=dict, repr=False, compare=False)  # cache of built ModelPatchers

    @property
    def has_mid_block(self) -> bool:
        return "mid_block.motion_modules.0" in self.widths


def expected_slots(mid_block: bool) -> list[str]:
    """Motion module prefixes of the SD1.5 layout, in diffusers block order."""
    slots = [f"down_blocks.{i}.motion_modules.{j}" for i in range(SD15_DOWN_BLOCKS) for j in range(SD15_DOWN_LAYERS)]
    if mid_block:
        slots.append("mid_block.motion_modules.0")
    slots += [f"up_blocks.{i}.motion_modules.{j}" for i in range(SD15_DOWN_BLOCKS) for j in range(SD15_UP_LAYERS)]
    return slots


def expected_shapes(channels: int, max_frames: int) -> dict[str, tuple[int, ...]]:
    """Every key (below a motion module prefix) and its shape for width ``channels``."""
    c = channels
    shapes: dict[str, tuple[int, ...]] = {
        "temporal_transformer.norm.weight": (c,), "temporal_transformer.norm.bias": (c,),
        "temporal_transformer.proj_in.weight": (c, c), "temporal_transformer.proj_in.bias": (c,),
        "temporal_transformer.proj_out.weight": (c, c), "temporal_transformer.proj_out.bias": (c,),
        f"{BLOCK}.ff.net.0.proj.weight": (8 * c, c), f"{BLOCK}.ff.net.0.proj.bias": (8 * c,),
        f"{BLOCK}.ff.net.2.weight": (c, 4 * c), f"{BLOCK}.ff.net.2.bias": (c,),
        f"{BLOCK}.ff_norm.weight": (c,), f"{BLOCK}.ff_norm.bias": (c,),
    }
    for a in range(2):
        for proj in ("to_q", "to_k", "to_v"):
            shapes[f"{ATTN}.{a}.{proj}.weight"] = (c, c)
        shapes[f"{ATTN}.{a}.to_out.0.weight"] = (c, c)
        shapes[f"{ATTN}.{a}.to_out.0.bias"] = (c,)
        shapes[f"{ATTN}.{a}.pos_encoder.pe"] = (1, max_frames, c)
        shapes[f"{BLOCK}.norms.{a}.weight"] = (c,)
        shapes[f"{BLOCK}.norms.{a}.bias"] = (c,)
    return shapes


def load_temporal_file(path: str, notices: NoticeBoard | None = None) -> TemporalWeights:
    """Read, check and describe the temporal attention file at ``path``.

    The file is memory-mapped and only its motion-module tensors are read: the release's file is the whole UNet3D
    (560 motion-module and 686 spatial UNet tensors), whose spatial part the checkpoint's UNet replaces; that is
    said once on ``notices``."""
    name = os.path.basename(path)
    raw = strip_prefixes(read_state_dict(path, TEMPORAL_FILE, mmap=True), PREFIXES)
    weights = check_temporal_state_dict(raw, name)
    if weights.unused_spatial:
        warn(notices, TEMPORAL_SPATIAL_UNUSED, count=weights.unused_spatial, kept=len(weights.state_dict))
    return weights


def check_temporal_state_dict(raw: Mapping[str, torch.Tensor], name: str) -> TemporalWeights:
    """Keep the motion-module keys of ``raw`` and check them against the SD1.5 layout."""
    motion = {k: v for k, v in raw.items() if SLOT_RE.match(k)}
    if not motion:
        raise TEMPORAL_FILE.error(_not_motion_message(raw, name))
    slots_found = {SLOT_RE.match(k).group(1) for k in motion}
    _reject_sdxl(slots_found, motion, name)
    mid = any(s.startswith("mid_block.") for s in slots_found)
    slots = expected_slots(mid)
    missing_slots = [s for s in slots if s not in slots_found]
    if missing_slots:
        raise TEMPORAL_FILE.error(
            f"the file '{name}' is incomplete: motion modules {_few(missing_slots)} are missing "
            f"(an SD1.5 temporal file has {len(slots)}). The file is damaged or of another kind; download it again.")
    extra = sorted(slots_found - set(slots))
    if extra:
        raise TEMPORAL_FILE.error(f"the file '{name}' has motion modules {_few(extra)} that the SD1.5 "
                              f"layout does not have; it was made for a different UNet.")
    widths = {s: _width(motion, s, name) for s in slots}
    max_frames = _max_frames(motion, slots[0], name)
    generated_pe = not any(k.endswith("pos_encoder.pe") for k in motion)
    state_dict: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    wrong: list[str] = []
    for slot in slots:
        for key, shape in expected_shapes(widths[slot], max_frames).items():
            full = f"{slot}.{key}"
            tensor = motion.get(full)
            if tensor is None and generated_pe and key.endswith("pos_encoder.pe"):
                tensor = sinusoidal_encoding(max_frames, widths[slot])
            if tensor is None:
                missing.append(full)
            elif tuple(tensor.shape) != shape:
                wrong.append(f"{full} {tuple(tensor.shape)} (expected {shape})")
            else:
                state_dict[full] = tensor
    if missing:
        raise TEMPORAL_FILE.error(f"the file '{name}' lacks {len(missing)} expected keys, e.g. "
                              f"{_few(missing)}; it is truncated or not a MagicAnimate/AnimateDiff SD1.5 file.")
    if wrong:
        raise TEMPORAL_FILE.error(f"the file '{name}' has tensors of unexpected shape: {_few(wrong)}; "
                              f"it is not a MagicAnimate/AnimateDiff SD1.5 temporal file.")
    unused = sorted(set(motion) - set(state_dict))
    if unused:
        raise TEMPORAL_FILE.error(f"the file '{name}' has keys this temporal module does not use, "
                              f"e.g. {_few(unused)}; it is a different motion module design.")
    variant = (f"{'AnimateDiff v2/v3 layout (mid block)' if mid else 'MagicAnimate / AnimateDiff v1 layout'}, "
               f"{max_frames}-frame positional encoding")
    return TemporalWeights(name, state_dict, widths, max_frames, variant, unused_spatial=len(raw) - len(motion))


def _width(motion: Mapping[str, torch.Tensor], slot: str, name: str) -> int:
    norm = motion.get(f"{slot}.temporal_transformer.norm.weight")
    if norm is None or norm.ndim != 1:
        raise TEMPORAL_FILE.error(f"the file '{name}' lacks {slot}.temporal_transformer.norm.weight; "
                              f"it is truncated or not a MagicAnimate/AnimateDiff SD1.5 file.")
    width = int(norm.shape[0])
    if width % GROUPS or width % HEADS:
        raise TEMPORAL_FILE.error(f"the file '{name}' has width {width} at {slot}, which is not a "
                              f"multiple of {GROUPS} groups and {HEADS} heads; it is not a temporal attention file.")
    return width


def _max_frames(motion: Mapping[str, torch.Tensor], slot: str, name: str) -> int:
    pe = motion.get(f"{slot}.{ATTN}.0.pos_encoder.pe")
    if pe is None:
        return 24  # v1 files saved without the buffer: the original's 24-frame sinusoidal encoding
    if pe.ndim != 3:
        raise TEMPORAL_FILE.error(f"the file '{name}' has a positional encoding of shape "
                              f"{tuple(pe.shape)} at {slot}; expected [1, frames, channels].")
    return int(pe.shape[1])


def _reject_sdxl(slots: set[str], motion: Mapping[str, torch.Tensor], name: str) -> None:
    down = {int(s.split(".")[1]) for s in slots if s.startswith("down_blocks.")}
    widths = {int(v.shape[0]) for k, v in motion.items() if k.endswith("temporal_transformer.norm.weight")}
    if down and max(down) < SD15_DOWN_BLOCKS - 1 and (1280 in widths or len(down) == 3):
        raise TEMPORAL_FILE.error(
            f"the file '{name}' is an SDXL motion module ({len(down)} down blocks, widths "
            f"{sorted(widths)}); MagicAnimate needs an SD1.5 temporal file (4 down blocks, e.g. MagicAnimate's "
            f"temporal_attention.ckpt or AnimateDiff mm_sd_v15*).")


def _not_motion_message(raw: Mapping[str, torch.Tensor], name: str) -> str:
    keys = list(raw)
    if any(m in k for k in keys for m in CONTROLNET_MARKERS):
        return (f"the file '{name}' is a ControlNet, not a temporal attention file; load it with a ControlNet "
                f"loader and pick MagicAnimate/temporal_attention/temporal_attention.ckpt here.")
    if any(k.startswith(m) or k == m for k in keys for m in SD_MARKERS) or any(".resnets." in k for k in keys):
        return (f"the file '{name}' is a Stable Diffusion checkpoint/UNet, not a temporal attention file; load it "
                f"with Load Checkpoint and pick MagicAnimate/temporal_attention/temporal_attention.ckpt here.")
    return (f"the file '{name}' has no motion-module keys (down_blocks.N.motion_modules.M...); it is not a "
            f"temporal attention file. Pick MagicAnimate/temporal_attention/temporal_attention.ckpt.")


def _few(items: list[str], count: int = 3) -> str:
    shown = ", ".join(items[:count])
    return shown + (f" (and {len(items) - count} more)" if len(items) > count else "")


"""Which MagicAnimate part a model file probably is, so each loader lists the files of its kind first.

Cheap on purpose (the lists are built whenever the node definitions are read): the file's path first
(``appearance_encoder/``, ``temporal_attention/``, ``mm_sd_v15...``, ``controlnet``), then, for ``.safetensors``
only, the key names in its JSON header (a few KiB to MiB read, no tensor data). Pickled files are never opened
here. A guess only orders the list; the loaders still accept every file and say clearly when it is the wrong one.
"""
from __future__ import annotations

import json
import os
import struct

APPEARANCE, TEMPORAL, CONTROLNET, OTHER = "appearance", "temporal", "controlnet", "other"
MAX_HEADER_BYTES = 64 * 1024 * 1024
_NAME_HINTS = ((TEMPORAL, ("temporal_attention", "motion_module", "animatediff", "mm_sd", "mm_v", "/mm_")),
               (APPEARANCE, ("appearance_encoder", "appearance")),
               (CONTROLNET, ("controlnet", "control_net")))
_cache: dict[tuple[str, float, int], str | None] = {}


def kind_from_name(name: str) -> str | None:
    """The part a file's relative name points to, or None."""
    lowered = "/" + name.replace("\\", "/").lower()
    for kind, hints in _NAME_HINTS:
        if any(hint in lowered for hint in hints):
            return kind
    return None


def kind_from_keys(keys: list[str]) -> str | None:
    """The part a state dict's key names point to, or None."""
    if any("motion_modules." in k for k in keys):
        return TEMPORAL
    if any(k.startswith(("controlnet_", "control_model.", "input_hint_block.")) for k in keys):
        return CONTROLNET
    if any(k.startswith("lora_") or ".lora_" in k for k in keys):
        return OTHER
    if any(k.startswith(("down_blocks.", "input_blocks.", "model.diffusion_model.")) for k in keys):
        return APPEARANCE  # a UNet: the appearance encoder's format (or a checkpoint it also loads)
    return None


def safetensors_keys(path: str) -> list[str]:
    """The tensor names in a ``.safetensors`` header ([] when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > MAX_HEADER_BYTES:
                return []
            return [k for k in json.loads(f.read(length)) if k != "__metadata__"]
    except (OSError, ValueError, struct.error):
        return []


def file_kind(name: str, path: str | None) -> str | None:
    """The part the file ``name`` (at ``path``) probably is, or None when nothing says."""
    kind = kind_from_name(name)
    if kind is not None or path is None or not path.lower().endswith(".safetensors"):
        return kind
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (path, stat.st_mtime, stat.st_size)
    if key not in _cache:
        _cache[key] = kind_from_keys(safetensors_keys(path))
    return _cache[key]


def order_by_kind(names: list[str], kind: str, path_of) -> list[str]:
    """``names`` with the files of ``kind`` first, files of unknown kind next, other parts' files last
    (each group in its given order); ``path_of(name)`` is the full path or None."""
    def rank(name: str) -> int:
        found = file_kind(name, path_of(name))
        return 0 if found == kind else 1 if found is None else 2
    return sorted(names, key=rank)

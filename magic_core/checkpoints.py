"""Reading checkpoint files safely: one clear error for a missing, empty, truncated or non-checkpoint file.

Generic helpers shared by the loaders (temporal attention, appearance encoder, ...): read a ``.ckpt``/``.pt``/
``.pth``/``.bin`` pickle through ComfyUI's safe loader or a ``.safetensors`` file, unwrap the usual
``state_dict``/``module`` wrappers, and strip key prefixes such as ``module.`` or ``unet.``.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping

import comfy.utils
import torch

WRAPPER_KEYS = ("state_dict", "module", "model")


class CheckpointError(ValueError):
    """A model file that cannot be used, with a message naming the file, what is wrong and the fix."""


def read_state_dict(path: str, what: str = "model file") -> dict[str, torch.Tensor]:
    """Tensors of the checkpoint at ``path`` (CPU), wrappers removed; ``what`` names the file in errors."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"The {what} '{path}' does not exist; check the path or pick another file.")
    check_not_empty(path, what)
    size = os.path.getsize(path)
    try:
        loaded = comfy.utils.load_torch_file(path, safe_load=True)
    except Exception as exc:  # noqa: BLE001 - every reader error becomes one clear message
        raise CheckpointError(
            f"The {what} '{name}' ({size} bytes) could not be read as a checkpoint ({read_error_reason(exc)}). "
            f"It is truncated, corrupt or not a PyTorch/safetensors checkpoint; download it again.") from exc
    state_dict = unwrap_state_dict(loaded)
    if not state_dict:
        raise CheckpointError(f"The {what} '{name}' holds no tensors; it is not a model checkpoint.")
    return state_dict


def check_not_empty(path: str, what: str) -> None:
    """Raise :class:`CheckpointError` for a 0-byte file (an interrupted download or copy)."""
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise CheckpointError(f"The {what} '{os.path.basename(path)}' is empty (0 bytes): the download or copy did "
                              f"not finish; download it again.")


def read_error_reason(exc: BaseException) -> str:
    """A one-line reason for a reader failure. Pickles are read weights-only: a refused code reference is named
    as such (never 'retry with weights_only=False')."""
    if isinstance(exc, pickle.UnpicklingError):
        text = str(exc)
        marker = "WeightsUnpickler error:"
        tail = text.split(marker, 1)[1] if marker in text else text
        detail = next((line.strip() for line in tail.splitlines() if line.strip()), "no details")
        detail = detail.split(". ")[0].rstrip(".")[:200]  # drop torch's advice to allow the global
        if "global" in detail.lower():
            return (f"its pickle references Python code ({detail}); refused without running it, because "
                    f"unpickling it could run code")
        return f"not a valid weights-only PyTorch pickle: {detail}"
    return f"{type(exc).__name__}: {_first_line(exc).split('. ')[0]}"


def unwrap_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """The tensor dictionary inside ``obj``: follows ``state_dict``/``module``/``model`` wrappers, drops
    non-tensor entries (``global_step`` and the like)."""
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None or any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        obj = inner
    if not isinstance(obj, Mapping):
        return {}
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def strip_prefixes(state_dict: Mapping[str, torch.Tensor], prefixes: Iterable[str]) -> dict[str, torch.Tensor]:
    """Keys with any leading ``prefixes`` removed (repeatedly, e.g. ``module.unet.``)."""
    prefixes = tuple(prefixes)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key = key[len(prefix):]
                    stripped = True
        out[key] = value
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no details"

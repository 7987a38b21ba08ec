"""Reading checkpoint files safely: the one reader every loader uses, one wording per kind of failure.

A ``.ckpt``/``.pt``/``.pth``/``.bin`` pickle is read weights-only through ComfyUI's safe loader, a
``.safetensors`` file directly; the usual ``state_dict``/``module`` wrappers are unwrapped.  A missing, empty
(0 bytes), unreadable (truncated, corrupt, not a checkpoint) or tensor-less file is a :class:`CheckpointError`
whose message names the file, the kind of file the loader expects and the fix.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import comfy.utils
import torch

from .errors import MagicAnimateError

WRAPPER_KEYS = ("state_dict", "module", "model")


class CheckpointError(MagicAnimateError):
    """A model file that cannot be used, with a message naming the file, what is wrong and the fix."""


@dataclass(frozen=True)
class FileKind:
    """The kind of model file a loader reads: ``name`` starts its messages, ``expected`` is the file to pick."""

    name: str
    expected: str

    def error(self, message: str) -> CheckpointError:
        """A :class:`CheckpointError` with this kind's message prefix (``MagicAnimate <name>: ...``)."""
        return CheckpointError(f"MagicAnimate {self.name}: {message}")


def read_state_dict(path: str, kind: FileKind, mmap: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of the checkpoint at ``path`` (CPU), wrappers removed; ``kind`` says what the file should be.

    ``mmap``: a zip-format pickle is memory-mapped (still weights-only), so tensors the caller drops are never read
    into memory; other files are read whole as without it."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise kind.error(f"the file '{path}' does not exist; put the {kind.name} file ({kind.expected}) in "
                         f"models/magicanimate/ or pick another file.")
    size = os.path.getsize(path)
    if size == 0:
        raise kind.error(f"the file '{name}' is empty (0 bytes): the download or copy did not finish; download it "
                         f"again ({kind.expected}).")
    try:
        if mmap and not path.lower().endswith((".safetensors", ".sft")) and zipfile.is_zipfile(path):
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        else:
            loaded = comfy.utils.load_torch_file(path, safe_load=True)
    except Exception as exc:  # noqa: BLE001 - every reader error becomes one clear message
        raise kind.error(f"the file '{name}' ({size} bytes) could not be read as a checkpoint "
                         f"({read_error_reason(exc)}); it is truncated, corrupt or not a PyTorch/safetensors "
                         f"checkpoint: download it again, or pick the {kind.name} file ({kind.expected}).") from exc
    state_dict = unwrap_state_dict(loaded)
    if not state_dict:
        raise kind.error(f"the file '{name}' holds no tensors; it is not a model checkpoint: pick the {kind.name} "
                         f"file ({kind.expected}).")
    return state_dict


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

"""Resumable training state: trainable weights (safetensors) and optimizer/RNG/step (torch file read with
``weights_only=True``, i.e. no code is unpickled)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

WEIGHTS = "trainable.safetensors"
STATE = "state.pt"


def save_state(folder: Path, trainable: dict[str, nn.Module], state: dict[str, Any]) -> Path:
    """Write the resumable state of a step into ``folder`` (atomically: a half-written folder is never read)."""
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    weights = {f"{name}.{k}": v.detach().to("cpu").contiguous()
               for name, module in trainable.items() for k, v in module.state_dict().items()}
    safetensors.torch.save_file(weights, str(tmp / WEIGHTS))
    torch.save(state, tmp / STATE)
    if folder.exists():
        old = folder.with_name(folder.name + ".old")
        os.replace(folder, old)
        os.replace(tmp, folder)
        for item in old.iterdir():
            item.unlink()
        old.rmdir()
    else:
        os.replace(tmp, folder)
    return folder


def load_state(folder: Path, trainable: dict[str, nn.Module]) -> dict[str, Any]:
    """Load the weights into ``trainable`` and return the rest of the state."""
    weights = safetensors.torch.load_file(str(folder / WEIGHTS))
    for name, module in trainable.items():
        prefix = name + "."
        own = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        module.load_state_dict(own, strict=True)
    return torch.load(folder / STATE, map_location="cpu", weights_only=True)

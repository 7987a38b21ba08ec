"""Factories for the wrong model files users end up picking: truncated, empty, of another kind, renamed text,
and a pickle whose unpickling would run code."""
from __future__ import annotations

import pathlib
import shutil
from pathlib import Path

import safetensors.torch
import torch


def write_truncated(source: Path, dest: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``source``'s bytes (an interrupted download)."""
    data = source.read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data[: max(1, int(len(data) * fraction))])
    return dest


def write_zero_bytes(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(b"")
    return dest


def write_text_file(dest: Path) -> Path:
    """A text file renamed to a model extension (e.g. a saved HTML error page or a README)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("<!DOCTYPE html><html><body>404 Not Found: the model file moved.</body></html>\n" * 20)
    return dest


def write_copy(source: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return dest


def write_tiny_lora(dest: Path, rank: int = 4, seed: int = 0) -> Path:
    """A kohya-style SD1.5 LoRA (``lora_unet_...lora_down/lora_up/alpha``) for a few tiny layers."""
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for name, width in (("down_blocks_0_attentions_0_proj_in", 32), ("down_blocks_1_attentions_0_proj_in", 32),
                        ("up_blocks_1_attentions_0_proj_out", 64),
                        ("down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 32)):
        sd[f"lora_unet_{name}.lora_down.weight"] = torch.randn(rank, width, generator=gen)
        sd[f"lora_unet_{name}.lora_up.weight"] = torch.zeros(width, rank)
        sd[f"lora_unet_{name}.alpha"] = torch.tensor(float(rank))
    sd["lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = torch.randn(rank, 32, generator=gen)
    sd["lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight"] = torch.zeros(64, rank)
    dest.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(sd, str(dest))
    return dest


class _TouchOnLoad:
    """Unpickling this object calls ``pathlib.Path(marker).touch()``: code execution from a model file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def write_malicious_ckpt(dest: Path, marker: Path, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """A ``torch.save``-format checkpoint whose pickle creates ``marker`` when unpickled by a full unpickler.

    The payload sits beside real tensors, as in a tampered download of a real file; torch's default pickle
    protocol, so a weights-only reader refuses it for the code reference itself (``GLOBAL pathlib.Path.touch``)."""
    payload = {"state_dict": dict(tensors or {"weight": torch.zeros(2)}), "payload": _TouchOnLoad(marker)}
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, dest)
    return dest

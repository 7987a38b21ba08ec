"""Fixtures of the fusion sampler tests: tiny text conds and a recorder of what the diffusion model sees."""
from __future__ import annotations

from dataclasses import dataclass, field

import comfy.model_management
import comfy.patcher_extension
import pytest
import torch

from magic_core.frame_contract import frame_layout

from .tiny_models import tiny_clip


@pytest.fixture(scope="module")
def one_cpu_thread():
    """Run a module's tiny-model sampling on one CPU thread (several threads only contend on shared CPUs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fusion_conds() -> tuple[list, list]:
    """(positive, negative) CONDITIONING of the tiny CLIP, as CLIPTextEncode makes them."""
    clip = tiny_clip(1)

    def encode(text: str) -> list:
        cond, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
        return [[cond, {"pooled_output": pooled}]]

    return encode("a person dancing"), encode("")


@dataclass
class ModelCalls:
    """Every diffusion-model call of a run: batch rows and the frame layout the patches would read."""

    batches: list[int] = field(default_factory=list)
    layouts: list = field(default_factory=list)
    interrupt_after: int | None = None

    def wrapper(self, executor, x, *args, **kwargs):
        transformer_options = args[4] if len(args) > 4 else kwargs.get("transformer_options", {})
        self.batches.append(int(x.shape[0]))
        self.layouts.append(frame_layout(transformer_options, int(x.shape[0])))
        if self.interrupt_after is not None and len(self.batches) >= self.interrupt_after:
            comfy.model_management.interrupt_current_processing(True)
        return executor(x, *args, **kwargs)


@pytest.fixture
def record_model_calls():
    """``record(model) -> (clone, ModelCalls)``: a clone whose DIFFUSION_MODEL calls are recorded."""

    def record(model, interrupt_after: int | None = None):
        calls = ModelCalls(interrupt_after=interrupt_after)
        clone = model.clone()
        clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "fusion_test_recorder",
                                   calls.wrapper)
        return clone, calls

    yield record
    comfy.model_management.interrupt_current_processing(False)


def empty_latent(frames: int, size: int = 32) -> dict:
    """EmptyLatentImage's output for ``frames`` frames of ``size`` x ``size`` pixels."""
    return {"samples": torch.zeros(frames, 4, size // 8, size // 8)}

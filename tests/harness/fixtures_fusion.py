"""Fixtures of the fusion sampler tests: one CPU thread, tiny text conds and recorded diffusion-model calls."""
from __future__ import annotations

import comfy.model_management
import pytest
import torch

from . import recorders
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


@pytest.fixture
def record_model_calls():
    """``record(model, interrupt_after=None) -> (clone, ModelCalls)``, the processing-interrupt flag reset after."""

    def record(model, interrupt_after: int | None = None) -> tuple[object, recorders.ModelCalls]:
        return recorders.record_model_calls(model, interrupt_after=interrupt_after)

    yield record
    comfy.model_management.interrupt_current_processing(False)

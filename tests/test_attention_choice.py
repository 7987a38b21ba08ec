"""The fusion sampler's CPU attention choice: sub-quadratic -> PyTorch SDPA at long sequences, through
ComfyUI's per-model override only (nothing global, other choices untouched)."""
from __future__ import annotations

import comfy.ldm.modules.attention as attention
import torch
from harness.tiny_models import tiny_sd15_patcher

from magic_core.attention_choice import MIN_TOKENS, cpu_attention_override
from magic_core.call_options import ATTENTION_OVERRIDE
from magic_core.fusion.sampler import fusion_model
from magic_core.fusion.windows import FusionSettings


def qkv(tokens: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    return tuple(torch.randn(2, tokens, 16, generator=gen) for _ in range(3))


def test_sub_quadratic_at_long_sequences_runs_sdpa_with_the_same_result(monkeypatch):
    sdpa_calls = []
    real = attention.attention_pytorch.__wrapped__
    monkeypatch.setattr(attention.attention_pytorch, "__wrapped__",
                        lambda *a, **k: sdpa_calls.append(a[0].shape) or real(*a, **k))
    sub_quad = attention.attention_sub_quad.__wrapped__
    q, k, v = qkv(MIN_TOKENS)
    out = cpu_attention_override(sub_quad, q, k, v, 2, _inside_attn_wrapper=True)
    assert sdpa_calls == [q.shape]
    torch.testing.assert_close(out, sub_quad(q, k, v, 2), rtol=1e-5, atol=1e-5)
    short = qkv(MIN_TOKENS // 4)
    assert torch.equal(cpu_attention_override(sub_quad, *short, 2), sub_quad(*short, 2))  # ComfyUI's own
    split = attention.attention_split.__wrapped__
    assert torch.equal(cpu_attention_override(split, q, k, v, 2), split(q, k, v, 2))      # a user's choice
    assert len(sdpa_calls) == 1


def test_only_the_fusion_clone_carries_the_choice_and_an_existing_override_is_kept():
    base = tiny_sd15_patcher(0)
    fused = fusion_model(base, FusionSettings())
    assert fused.model_options["transformer_options"][ATTENTION_OVERRIDE] is cpu_attention_override
    assert ATTENTION_OVERRIDE not in base.model_options["transformer_options"]        # the input is not changed

    def mine(func, *args, **kwargs):
        return func(*args, **kwargs)

    other = base.clone()
    other.model_options["transformer_options"][ATTENTION_OVERRIDE] = mine
    assert fusion_model(other, FusionSettings()).model_options["transformer_options"][ATTENTION_OVERRIDE] is mine

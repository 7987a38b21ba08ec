"""The naive composition: what the same result costs in ComfyUI without the pack's sharing.

* Appearance encoder per model call, for every CFG half: an ``APPLY_MODEL`` wrapper (on a clone) runs the
  encoder on the reference latent once per batch chunk (cond and uncond, each with its own text) before every
  model call, i.e. for every window of every step, as reference-attention packs do; the read side is the
  plain ``attn1`` patch form, ``ReferenceAttentionPatch`` (reference concatenated into every row's context and
  projected per row, as such packs do; same result as the pack's per-block replace, see
  ``magic_core.appearance.reference``).
* DensePose ControlNet per CFG half: core's ``ControlNet`` applied with core's ``ControlNetApplyAdvanced``
  (core computes residuals for the whole batch, uncond rows included).
"""
from __future__ import annotations

import comfy.model_patcher
import comfy.patcher_extension
import torch

from magic_core.appearance import (
    AppearanceEncoder,
    ReferenceAttentionPatch,
    ReferenceBank,
    ReferenceLatentSource,
    fused_blocks,
    pair_blocks,
    run_encoder,
    transformer_blocks,
)
from magic_core.call_options import with_per_device_value
from magic_core.frame_contract import frame_layout

NAIVE_KEY = "bench_naive_appearance"


def apply_naive_appearance(model: comfy.model_patcher.ModelPatcher, encoder: AppearanceEncoder, vae,
                           reference: torch.Tensor, latent_size: tuple[int, int]) -> comfy.model_patcher.ModelPatcher:
    """A clone of ``model`` that recomputes the reference states at every model call, for every chunk."""
    writers = fused_blocks(encoder.blocks, "midup")
    pairing = pair_blocks(writers, fused_blocks(transformer_blocks(model.model.diffusion_model), "midup"))
    writer_keys = [w.key for w in writers]
    ref_latent = ReferenceLatentSource(vae, reference).latent(latent_size, model.model)
    bank_key = f"{NAIVE_KEY}_bank"

    def apply_model(executor, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options=None,
                    **kwargs):
        options = dict(transformer_options or {})
        layout = frame_layout(options, x.shape[0])
        chunks = len(layout.chunks)
        contexts = torch.cat([c_crossattn[layout.chunk_slice(k)][:1] for k in range(chunks)])
        timestep = executor.class_obj.model_sampling.timestep(t.reshape(-1)[:1]).float()
        states = run_encoder(encoder, writer_keys, ref_latent.expand(chunks, -1, -1, -1), timestep, contexts)
        cond = (layout.cond_chunks() or [0])[0]
        options = with_per_device_value(options, bank_key, ReferenceBank({k: v[cond:cond + 1]
                                                                          for k, v in states.items()}, pairing, 1.0))
        return executor(x, t, c_concat, c_crossattn, control, options, **kwargs)

    patched = model.clone()
    patched.set_additional_models(NAIVE_KEY, [encoder.patcher])
    patched.set_model_attn1_patch(ReferenceAttentionPatch(bank_key))
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, NAIVE_KEY, apply_model)
    return patched


def apply_core_controlnet(positive: list, negative: list, control_net, densepose: torch.Tensor) -> tuple[list, list]:
    """Core's ``ControlNetApplyAdvanced`` (strength 1, whole schedule)."""
    import nodes

    return nodes.ControlNetApplyAdvanced().apply_controlnet(positive, negative, control_net, densepose, 1.0, 0.0, 1.0)

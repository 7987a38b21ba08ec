"""The frame-following DensePose ControlNet: hint frame i always conditions latent frame i.

Core ``comfy.controlnet.ControlNet`` gives every model call the first N hint frames, so with sliding windows
every window is driven by the start of the motion.  :class:`FrameControlNet` subclasses it (no patching) and
selects the hints of exactly the frames a model call covers, read through the frame contract.

Like the original MagicAnimate, the residuals are computed with the **conditional** text embedding once per
frame per step and reused for the unconditional chunks of the same call (the noisy input is identical, so
this equals evaluating the uncond half with the cond text): half of core's ControlNet cost.  When ComfyUI
runs the uncond chunk in a call of its own (low memory), that call has no cond text and is evaluated with
its own embedding, as core does.

The hint embedding (``input_hint_block``: a few convolutions over the DensePose image) depends only on the
frame, not on the step, window or text, so each frame's is computed once per sampling run and kept on
ComfyUI's intermediate device; a call gathers its frames' embeddings (core recomputes them every call).
"""
from __future__ import annotations

import logging
from typing import Any

import comfy.controlnet
import comfy.model_base
import comfy.model_management
import comfy.utils
import torch
from comfy.ldm.modules.diffusionmodules.util import timestep_embedding

from .. import call_options
from ..call_options import current_evaluation
from ..errors import MagicAnimateError
from ..frame_contract import FrameLayout, frame_layout
from ..image_batch import check_frames
from ..input_ranges import check_percent_range
from .reuse import ResidualStore

log = logging.getLogger(__name__)


class FrameControlNet(comfy.controlnet.ControlNet):
    """A ControlNet whose hints follow the video frames of each model call (plain batch or fusion window)."""

    hint_embedding: HintEmbeddingCache | None = None

    @classmethod
    def wrap(cls, control: comfy.controlnet.ControlBase) -> FrameControlNet:
        """A frame-following copy of a ControlNet from core's ``ControlNetLoader`` (the input is not changed)."""
        if isinstance(control, FrameControlNet):
            return control.copy()
        model = getattr(control, "control_model", None)
        if (type(control) is not comfy.controlnet.ControlNet or control.latent_format is not None
                or getattr(model, "control_add_embedding", None) is not None
                or getattr(model, "num_classes", None) is not None):
            raise MagicAnimateError(f"MagicAnimate DensePose: control_net: a {type(control).__name__} cannot drive "
                                    f"MagicAnimate; load the DensePose ControlNet (an SD1.5 ControlNet) with "
                                    f"ControlNetLoader or the MagicAnimate DensePose ControlNet loader.")
        return cls._sharing_model_of(control)

    def copy(self) -> FrameControlNet:
        return FrameControlNet._sharing_model_of(self)

    @classmethod
    def _sharing_model_of(cls, control: comfy.controlnet.ControlNet) -> FrameControlNet:
        """A new FrameControlNet with ``control``'s settings, sharing its (loaded) ControlNet model."""
        out = cls(None, global_average_pooling=control.global_average_pooling, load_device=control.load_device,
                  manual_cast_dtype=control.manual_cast_dtype)
        out.control_model = control.control_model
        out.control_model_wrapped = control.control_model_wrapped
        control.copy_to(out)
        return out

    # --- hints ---------------------------------------------------------------------------------------
    def frame_hints(self, x_noisy: torch.Tensor, layout: FrameLayout, known_length: bool = True) -> torch.Tensor:
        """Pixel hints ``[video frames, C, H, W]`` at the latent's pixel size, resized once per run, kept on the
        intermediate device.  Checks the call's frames against them.

        ``known_length``: ``layout.video_frames`` is the video's length (not so under core's context windows,
        where only the indices are known; there only indices past the hints are an error)."""
        height, width = x_noisy.shape[2] * self.compression_ratio, x_noisy.shape[3] * self.compression_ratio
        if self.cond_hint is None or tuple(self.cond_hint.shape[2:]) != (height, width):
            hint = comfy.utils.common_upscale(self.cond_hint_original, width, height, self.upscale_algorithm,
                                              "center")
            self.cond_hint = self.preprocess_image(hint).to(comfy.model_management.intermediate_device())
            self.hint_embedding = None
        hints = self.cond_hint
        if hints.shape[0] != 1 and ((known_length and hints.shape[0] != layout.video_frames)
                                    or max(layout.frame_indices) >= hints.shape[0]):
            raise MagicAnimateError(
                f"MagicAnimate DensePose: {hints.shape[0]} DensePose frames but the latent video has "
                f"{layout.video_frames} frames. Use the same count for both: connect Prepare MagicAnimate Motion's "
                f"frame_count output to the empty latent's batch size (or give a single DensePose frame).")
        return hints

    def embedded_hints(self, x_noisy: torch.Tensor, layout: FrameLayout, dtype: torch.dtype,
                       known_length: bool = True) -> torch.Tensor:
        """The ControlNet's hint embeddings ``[frames, C, h, w]`` of the call's frames (on ``x_noisy``'s device);
        each video frame's is computed the first time a call needs it."""
        hints = self.frame_hints(x_noisy, layout, known_length)
        indices = [0] * layout.frames if hints.shape[0] == 1 else list(layout.frame_indices)
        cache = self.hint_embedding
        if cache is None or cache.dtype != dtype:
            cache = self.hint_embedding = HintEmbeddingCache(hints.shape[0], dtype)
        missing = cache.missing(indices)
        if missing:
            # The whole video in order is passed as it is: the convolutions then see core's exact tensor
            # (memory layout included), so a plain batch gives core's bits.
            pixels = hints if missing == list(range(hints.shape[0])) else hints.index_select(
                0, torch.tensor(missing, dtype=torch.long))
            pixels = pixels.to(device=x_noisy.device, dtype=dtype)
            cache.store(missing, self.control_model.input_hint_block(pixels, None, None))
        return cache.gather(indices, x_noisy.device)

    def cleanup(self) -> None:
        self.hint_embedding = None
        super().cleanup()

    # --- residuals -----------------------------------------------------------------------------------
    def get_control(self, x_noisy: torch.Tensor, t: torch.Tensor, cond: dict[str, Any], batched_number: int,
                    transformer_options: dict[str, Any]) -> dict[str, list] | None:
        control_prev = None
        if self.previous_controlnet is not None:
            control_prev = self.previous_controlnet.get_control(x_noisy, t, cond, batched_number, transformer_options)
        if self.timestep_range is not None:
            if t[0] > self.timestep_range[0] or t[0] < self.timestep_range[1]:
                return control_prev

        dtype = self.manual_cast_dtype if self.manual_cast_dtype is not None else self.control_model.dtype
        layout = frame_layout(transformer_options, x_noisy.shape[0])
        known_length = (call_options.video_window(transformer_options) is not None
                        or call_options.core_window(transformer_options) is None)
        hints = self.embedded_hints(x_noisy, layout, dtype, known_length)
        sources = self._chunk_sources(x_noisy, layout)
        evaluated = sorted(set(sources))
        rows = None if len(evaluated) == len(sources) else torch.cat(
            [torch.arange(x_noisy.shape[0], device=x_noisy.device)[layout.chunk_slice(k)] for k in evaluated])

        context = cond.get("crossattn_controlnet", cond["c_crossattn"])
        extra = self.extra_args.copy()
        for name in self.extra_conds:
            value = cond.get(name)
            if value is not None:
                extra[name] = _rows(comfy.model_base.convert_tensor(value, dtype, x_noisy.device), rows,
                                    x_noisy.shape[0])
        t_rows = _rows(t, rows, x_noisy.shape[0])
        x_rows = _rows(x_noisy, rows, x_noisy.shape[0])
        timestep = self.model_sampling_current.timestep(t_rows)
        x_in = self.model_sampling_current.calculate_input(t_rows, x_rows)
        context = comfy.model_management.cast_to_device(_rows(context, rows, x_noisy.shape[0]), x_noisy.device, dtype)
        hint = hints if len(evaluated) == 1 else hints.repeat(len(evaluated), 1, 1, 1)
        evaluation = current_evaluation(transformer_options)
        if evaluation is None or extra:  # extra conds: rows not compared by the store, so no reuse
            control = control_forward(self.control_model, x_in.to(dtype), hint, timestep.to(dtype), context, **extra,
                                      **attention_options(transformer_options))
        else:  # inside a whole-video evaluation: frames a previous window computed are reused
            keys = [(f, layout.chunks[k]) for k in evaluated for f in layout.frame_indices]
            store = evaluation.store(("densepose_residuals", id(self)), ResidualStore)
            control = store.forward(evaluation, keys, x_in.to(dtype), timestep.to(dtype), context, hint,
                                    lambda x, h, ts, c: control_forward(self.control_model, x, h, ts, c,
                                                                        **attention_options(transformer_options)))
        control = _spread(control, evaluated, sources, layout.frames)
        return self.control_merge(control, control_prev, output_dtype=None)

    @staticmethod
    def _chunk_sources(x_noisy: torch.Tensor, layout: FrameLayout) -> list[int]:
        """For each chunk, the chunk whose residuals it uses: uncond chunks reuse the first cond chunk's when
        their noisy input is the same (always under CFG), else they are evaluated themselves."""
        cond_chunks = layout.cond_chunks()
        sources = []
        for k in range(len(layout.chunks)):
            source = k
            if k not in cond_chunks and cond_chunks:
                first = cond_chunks[0]
                if torch.equal(x_noisy[layout.chunk_slice(k)], x_noisy[layout.chunk_slice(first)]):
                    source = first
            sources.append(source)
        return sources


class HintEmbeddingCache:
    """Per-frame hint embeddings of one video, filled as calls need them, kept on the intermediate device."""

    def __init__(self, frames: int, dtype: torch.dtype):
        self.frames, self.dtype = frames, dtype
        self.done = [False] * frames
        self.values: torch.Tensor | None = None

    def missing(self, indices: list[int]) -> list[int]:
        return sorted({i for i in indices if not self.done[i]})

    def store(self, indices: list[int], embeddings: torch.Tensor) -> None:
        if self.values is None:
            self.values = torch.empty((self.frames, *embeddings.shape[1:]), dtype=self.dtype,
                                      device=comfy.model_management.intermediate_device())
        self.values[indices] = embeddings.to(self.values.device)
        for i in indices:
            self.done[i] = True

    def gather(self, indices: list[int], device: torch.device) -> torch.Tensor:
        assert self.values is not None
        if indices == list(range(self.frames)):
            return self.values.to(device)
        return self.values.index_select(0, torch.tensor(indices, dtype=torch.long)).to(device)


def attention_options(transformer_options: dict[str, Any]) -> dict[str, Any]:
    """The sampling model's attention choice for the ControlNet's blocks (only that: the model's other
    patches, e.g. reference attention keyed by block, are the UNet's, not the ControlNet's)."""
    override = call_options.attention_override(transformer_options)
    if override is None:
        return {}
    options: dict[str, Any] = {}
    call_options.set_attention_override(options, override)
    return {"transformer_options": options}


def control_forward(model: torch.nn.Module, x: torch.Tensor, embedded_hint: torch.Tensor, timesteps: torch.Tensor,
                    context: torch.Tensor, transformer_options: dict[str, Any] | None = None,
                    **kwargs: Any) -> dict[str, list]:
    """``comfy.cldm.cldm.ControlNet.forward`` with the hint already embedded (SD1.5 ControlNets: no union
    embedding, no class labels).  Other ControlNet kinds are refused by :meth:`FrameControlNet.wrap`.
    ``transformer_options``: passed to the blocks (the attention choice, see :func:`attention_options`)."""
    emb = model.time_embed(timestep_embedding(timesteps, model.model_channels, repeat_only=False).to(x.dtype))
    outputs, middle = [], []
    h = x
    options = {} if transformer_options is None else {"transformer_options": transformer_options}
    for i, (module, zero_conv) in enumerate(zip(model.input_blocks, model.zero_convs, strict=True)):
        h = module(h, emb, context, **options)
        if i == 0:
            h = h + embedded_hint
        outputs.append(zero_conv(h, emb, context))
    h = model.middle_block(h, emb, context, **options)
    middle.append(model.middle_block_out(h, emb, context))
    return {"middle": middle, "output": outputs}


def _rows(value: torch.Tensor, rows: torch.Tensor | None, batch: int) -> torch.Tensor:
    """``value``'s rows for the evaluated batch rows (``None``: all rows; a single row is shared by every row)."""
    if rows is None:
        return value
    if value.shape[0] == batch:
        return value.index_select(0, rows.to(value.device))
    if value.shape[0] == 1:
        return value.expand(rows.shape[0], *value.shape[1:])
    raise MagicAnimateError(f"MagicAnimate DensePose: conditioning with {value.shape[0]} rows does not match the model "
                            f"batch of {batch} rows.")


def _spread(control: dict[str, list], evaluated: list[int], sources: list[int], frames: int) -> dict[str, list]:
    """Residuals of the evaluated chunks laid out for every chunk of the batch."""
    if evaluated == sources:
        return control
    position = {k: i for i, k in enumerate(evaluated)}
    out: dict[str, list] = {}
    for key, tensors in control.items():
        out[key] = [None if x is None else torch.cat(
            [x[position[s] * frames:(position[s] + 1) * frames] for s in sources]) for x in tensors]
    return out


def apply_densepose(positive: list, negative: list, control_net: comfy.controlnet.ControlBase,
                    densepose: torch.Tensor, strength: float = 1.0, start_percent: float = 0.0,
                    end_percent: float = 1.0) -> tuple[list, list]:
    """Attach a frame-following DensePose ControlNet to both conditionings (copies; chains like core's node)."""
    check_percent_range(start_percent, end_percent, "DensePose")
    hint = check_frames(densepose, "densepose").movedim(-1, 1)
    if strength == 0:
        return positive, negative
    base = FrameControlNet.wrap(control_net)
    made: dict[Any, FrameControlNet] = {}
    out = []
    for conditioning in (positive, negative):
        entries = []
        for embedding, options in conditioning:
            options = options.copy()
            previous = options.get("control")
            if previous not in made:
                made[previous] = base.copy().set_cond_hint(hint, strength, (start_percent, end_percent))
                made[previous].set_previous_controlnet(previous)
            options["control"] = made[previous]
            options["control_apply_to_uncond"] = False
            entries.append([embedding, options])
        out.append(entries)
    log.debug("MagicAnimate DensePose: %d hint frames attached", hint.shape[0])
    return out[0], out[1]

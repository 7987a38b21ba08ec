"""DensePose estimation of every frame of an IMAGE batch with the TorchScript model, rendered as MagicAnimate
DensePose (viridis part colours on RGB 68, 1, 84).

The model's input is built as comfyui_controlnet_aux builds it (``detection_input``); the label canvas is cropped
back to the scaled size. ``output_size = input`` (the default) then resizes the label map to the input's size with
nearest neighbour (so a 1080x1920 frame gives a 1080x1920 DensePose frame and every pixel stays an exact palette
colour); ``detection`` keeps the scaled size (controlnet_aux's output, e.g. 512x910). ``person`` picks who is drawn
(``person.py``).
"""
from __future__ import annotations

import comfy.model_management as mm
import comfy.utils
import torch
import torch.nn.functional as F

from ..errors import MagicAnimateError
from ..notices import DETECTION_SIZE_OUTPUT, NO_PERSON, PERSON_CHOSEN, PERSON_LOST, NoticeBoard, frame_list, warn
from .codec import render_labels
from .detection_input import PAD, detection_size, model_input, to_uint8_rgb
from .detections import paint_detections
from .estimator_model import DensePoseModel
from .person import PersonPicker
from .person_mask import person_masks

OUTPUT_SIZES = ("input", "detection")


def estimate_labels(module: torch.jit.ScriptModule, frame: torch.Tensor, resolution: int, device: torch.device,
                    picker: PersonPicker, index: int, output_size: str = "input") -> torch.Tensor:
    """The ``[H, W]`` part-label map of one uint8 ``[H, W, 3]`` frame (of the people ``picker`` chooses)."""
    image, (sh, sw) = model_input(frame, resolution)
    boxes, coarse, fine, _u, _v = module(image.to(device))
    h, w = frame.shape[:2]
    scale = torch.tensor([w / sw, h / sh, w / sw, h / sh], device=boxes.device)
    chosen = picker.choose(index, boxes.float() * scale)
    canvas = paint_detections(boxes, coarse, fine, image.shape[1], image.shape[2], chosen)[:sh, :sw]
    if output_size == "input" and (sh, sw) != (h, w):
        canvas = F.interpolate(canvas[None, None].float(), size=(h, w), mode="nearest")[0, 0]
    return canvas.long()


def estimate_densepose(model: DensePoseModel, frames: torch.Tensor, resolution: int = 512,
                       notices: NoticeBoard | None = None, output_size: str = "input", person: str = "all",
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """MagicAnimate DensePose renderings ``[F, H, W, 3]`` of every frame (the input's size, or the detection size
    with ``output_size = detection``) of the people ``person`` picks; frames without a person are background, with
    one warning naming them, and so are frames where the chosen person is lost."""
    if resolution < PAD or resolution % PAD:
        raise MagicAnimateError(f"MagicAnimate DensePose estimator: resolution {resolution} is not a positive "
                                f"multiple of 64; use e.g. 512.")
    if output_size not in OUTPUT_SIZES:
        raise MagicAnimateError(f"MagicAnimate DensePose estimator: output_size must be one of {OUTPUT_SIZES}, "
                                f"got {output_size!r}.")
    pixels = to_uint8_rgb(frames)
    count, height, width = pixels.shape[:3]
    person, masks = person_masks(mask, person, count, height, width, notices)
    picker = PersonPicker(person, masks)
    out_h, out_w = detection_size(height, width, resolution) if output_size == "detection" else (height, width)
    device = mm.get_torch_device()
    if device.type != "cpu":  # on the CPU, freeing would only unload the other models for nothing
        mm.free_memory(model.memory_required(), device)
    module = model.module(device)
    out = torch.empty(count, out_h, out_w, 3, dtype=torch.float32, device=mm.intermediate_device())
    empty: list[int] = []
    bar = comfy.utils.ProgressBar(count)
    try:
        with torch.inference_mode():
            for i in range(count):
                mm.throw_exception_if_processing_interrupted()
                labels = estimate_labels(module, pixels[i], resolution, device, picker, i, output_size)
                if not bool((labels > 0).any()) and i not in picker.lost[-1:]:
                    empty.append(i)
                out[i] = render_labels(labels).to(out.device)
                bar.update_absolute(i + 1, count)
    finally:
        if device.type != "cpu":
            model.release()  # the offload: the file's bytes stay in RAM, the device copy goes
            mm.soft_empty_cache()
    if empty:
        warn(notices, NO_PERSON, count=len(empty), total=count, frames=frame_list(empty))
    if picker.lost:
        warn(notices, PERSON_LOST, mode=person, count=len(picker.lost), total=count, frames=frame_list(picker.lost))
    if picker.left_out:
        warn(notices, PERSON_CHOSEN, mode=person, left_out=picker.left_out, count=len(picker.left_out_frames),
             total=count, frames=frame_list(picker.left_out_frames))
    if (out_h, out_w) != (height, width):
        warn(notices, DETECTION_SIZE_OUTPUT, width=out_w, height=out_h, in_width=width, in_height=height)
    return out

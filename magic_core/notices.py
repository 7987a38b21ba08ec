"""What the pack changes about a user's input, said where the user looks: the node's UI text and the server log.

Every warning the pack gives is a `Notice` in `NOTICES` (README's troubleshooting list of warnings is generated from
it by ``scripts/update_readme_notices.py``; a test keeps the two equal). A node makes a `NoticeBoard`, passes it to
the ``magic_core`` function it calls (``notices=board``), and returns ``notice_output(..., board=board)``
(``nodes/notice_output.py``), which puts the board's lines into the node's UI text. Without a board (plain Python,
training, benchmarks) a warning goes to the log only.

A template is one short sentence (or two): what happened, the numbers, how to change it; ``str.format`` fields
name the numbers.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """One kind of warning: ``node`` is the display name of the node that gives it (for the README)."""
    key: str
    node: str
    template: str

    def format(self, **values: object) -> str:
        """The warning's text with its numbers filled in."""
        return self.template.format(**values)


NOTICES: dict[str, Notice] = {}


def declare(key: str, node: str, template: str) -> Notice:
    """Add a warning to the catalogue (keys are unique)."""
    if key in NOTICES:
        raise ValueError(f"notice {key!r} is declared twice")
    NOTICES[key] = notice = Notice(key, node, template)
    return notice


REFERENCE_BATCH = declare(
    "reference_batch", "Apply MagicAnimate Appearance Encoder",
    "MagicAnimate appearance: reference_image holds {count} images; only the first is used as the reference "
    "(pick one image, e.g. with an image-from-batch node, to choose which).")

REFERENCE_CROP = declare(
    "reference_crop", "MagicAnimate Fusion Sampler",
    "MagicAnimate appearance: the {ref_w}x{ref_h} reference is centre-cropped to the {video_w}x{video_h} video's "
    "aspect ratio, keeping {kept}% of its {side}; set reference_fit to pad on Apply MagicAnimate Appearance "
    "Encoder to keep all of it, or use a reference shaped like the video.")

CHECKPOINT_AS_ENCODER = declare(
    "checkpoint_as_encoder", "Load MagicAnimate Appearance Encoder",
    "MagicAnimate appearance encoder: '{name}' is a full Stable Diffusion checkpoint, not MagicAnimate's appearance "
    "encoder; its UNet is used as the encoder. Pick MagicAnimate/appearance_encoder/"
    "diffusion_pytorch_model.safetensors for MagicAnimate's results.")

TEMPORAL_SPATIAL_UNUSED = declare(
    "temporal_spatial_unused", "Load MagicAnimate Temporal Attention",
    "MagicAnimate temporal attention: {count} spatial UNet weights in this file are not used: the UNet comes from "
    "your checkpoint (only the file's {kept} motion-module weights are loaded).")

CONTEXT_HANDLER_REPLACED = declare(
    "context_handler_replaced", "MagicAnimate Fusion Sampler",
    "MagicAnimate fusion: the model already had a context handler (e.g. from core's Context Windows node); the "
    "fusion sampler's own windows (context_frames, context_overlap) replace it, so that node can be removed.")

FRAME_SHORTFALL = declare(
    "frame_shortfall", "Prepare MagicAnimate Motion",
    "MagicAnimate motion: frame_count {asked} is more than the input holds, so {given} frames are used (input: "
    "{total} frames, start_frame {start}, every_nth {nth}); set frame_count to {given} or fewer, or 0 for all.")

NO_PERSON = declare(
    "no_person", "MagicAnimate DensePose Estimator",
    "MagicAnimate DensePose estimator: no person found in {count} of {total} frames ({frames}); they are background "
    "frames (the person is too small, cut off or hidden: try a higher resolution or trim those frames).")
PERSON_LOST = declare(
    "person_lost", "MagicAnimate DensePose Estimator",
    "MagicAnimate DensePose estimator: the chosen person (person = {mode}) was not found in {count} of {total} "
    "frames ({frames}); nobody is drawn there (they left, were hidden, or the mask holds nobody: check those "
    "frames, or set person to all).")
PERSON_CHOSEN = declare(
    "person_chosen", "MagicAnimate DensePose Estimator",
    "MagicAnimate DensePose estimator: person = {mode}: {left_out} other detected people in {count} of {total} "
    "frames ({frames}) are not drawn (set person to all to draw everyone).")
MASK_UNUSED = declare(
    "mask_unused", "MagicAnimate DensePose Estimator",
    "MagicAnimate DensePose estimator: a mask is connected but person is {mode}, so the mask is not used (set "
    "person to by mask to draw only the people inside it).")
MASK_RESIZED = declare(
    "mask_resized", "MagicAnimate DensePose Estimator",
    "MagicAnimate DensePose estimator: the mask is {mask_w}x{mask_h} but the frames are {width}x{height}; it was "
    "stretched to the frames' size (nearest) to pick people (make the mask from these frames to avoid this).")
MASK_EMPTY = declare(
    "mask_empty", "MagicAnimate DensePose Estimator",
    "MagicAnimate DensePose estimator: person is by mask but the mask is empty (no pixel set); everyone is drawn "
    "as with person = all (paint or segment the person who should drive).")
DETECTION_SIZE_OUTPUT = declare(
    "detection_size_output", "MagicAnimate DensePose Estimator",
    "MagicAnimate DensePose estimator: output_size is detection, so the DensePose frames are {width}x{height} (the "
    "detection size) instead of the input's {in_width}x{in_height} (set output_size to input to keep the input's "
    "size).")
SMOOTH_WINDOW_EVEN = declare(
    "smooth_window_even", "MagicAnimate Smooth Motion",
    "MagicAnimate smooth motion: window {window} is even; a centred window needs an odd size, so {used} frames "
    "were used (set an odd window to choose).")
ALIGN_NO_PERSON = declare(
    "align_no_person", "MagicAnimate Align Motion",
    "MagicAnimate align motion: no body found in {what}; the motion is passed on unchanged (check that "
    "{what} is MagicAnimate DensePose, e.g. the DensePose Estimator's output).")
RETARGET_FALLBACK = declare(
    "retarget_fallback", "MagicAnimate Align Motion",
    "MagicAnimate align motion: retarget needs {needed}, but {what} shows {shown}; scale_and_position was used "
    "instead (use a reference photo that shows the whole body, head to feet).")
RETARGET_UNMEASURED = declare(
    "retarget_unmeasured", "MagicAnimate Align Motion",
    "MagicAnimate align motion: the reference does not show {parts}; those parts keep the driver's proportions, "
    "scaled by the body height ratio {ratio:.2f}.")
RETARGET_DONE = declare(
    "retarget_done", "MagicAnimate Align Motion",
    "MagicAnimate align motion: retarget redrew {frames} frames part by part with the reference's body "
    "proportions (length ratios {low:.2f} to {high:.2f}, driver's joint angles kept), feet on the reference's.")
NOT_DENSEPOSE = declare(
    "not_densepose", "Prepare MagicAnimate Motion",
    "MagicAnimate motion: the frames do not look like MagicAnimate DensePose: only {share:.0%} of the pixels are "
    "the background RGB (68, 1, 84) or a viridis part colour (expected at least {expected:.0%}); likely cause: "
    "{cause}.")

NOT_PARULA = declare(
    "not_parula", "Prepare MagicAnimate Motion",
    "MagicAnimate motion: colormap is parula→viridis but only {share:.0%} of the pixels are black or a Parula part "
    "colour (expected at least {expected:.0%}); the conversion needs Parula DensePose (set colormap to viridis for "
    "MagicAnimate DensePose, or run MagicAnimate DensePose Estimator on plain footage).")


def frame_list(frames: list[int], limit: int = 8) -> str:
    """Frame numbers as short ranges for a warning: ``0-3, 7, 9-12`` (at most ``limit`` ranges, then ``...``)."""
    ranges: list[str] = []
    start = prev = None
    for f in [*frames, None]:
        if start is not None and (f is None or f != prev + 1):
            ranges.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if f is not None and start is None:
            start = f
        prev = f
    return ", ".join(ranges[:limit]) + (", ..." if len(ranges) > limit else "")


class NoticeBoard:
    """Collects the warnings of one node run; each is logged at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def warn(self, notice: Notice, **values: object) -> str:
        """Log the warning and keep it for the node's UI text; returns the text."""
        message = notice.format(**values)
        log.warning(message)
        if message not in self.messages:
            self.messages.append(message)
        return message

    @property
    def text(self) -> str:
        """All warnings of the run, one per line."""
        return "\n".join(self.messages)


def warn(notices: NoticeBoard | None, notice: Notice, **values: object) -> str:
    """Give a warning on ``notices`` when there is a board (a node run), else to the log only."""
    if notices is not None:
        return notices.warn(notice, **values)
    message = notice.format(**values)
    log.warning(message)
    return message


def notice_table() -> str:
    """The README's table of warnings, generated from `NOTICES`."""
    rows = ["| node | warning (the numbers in braces are filled in) |", "| --- | --- |"]
    rows += [f"| {n.node} | {n.template} |" for n in sorted(NOTICES.values(), key=lambda n: (n.node, n.key))]
    return "\n".join(rows)

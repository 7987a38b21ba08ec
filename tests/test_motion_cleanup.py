"""Cleaning DensePose motion: smoothing in label space, alignment to the reference, the colormap check and the
Parula conversion (also inside Prepare Motion)."""
from __future__ import annotations

import pytest
import torch
from harness.media import read_video
from harness.paths import MAGICANIMATE_INPUTS, requires_shared
from harness.tiny_magicanimate import synthetic_reference_image

from magic_core.motion import (
    PART_COLORS,
    PARULA_COLORS,
    align_motion,
    decode_labels,
    measure_colormap,
    parula_to_viridis,
    prepare_motion,
    render_labels,
    render_part_indices,
    smooth_motion,
)
from magic_core.motion.align import body_box, median_box
from magic_core.notices import NoticeBoard


def figure(frames: int = 6, height: int = 64, width: int = 64, seed: int = 0, motion: str = "walk") -> torch.Tensor:
    return render_part_indices(width, height, frames, motion, seed)


# --- smoothing -------------------------------------------------------------------------------------------------

def test_smoothing_leaves_a_static_sequence_unchanged():
    static = render_labels(figure(1).repeat(7, 1, 1))
    for window in (3, 5):
        assert torch.equal(smooth_motion(static, window=window), static)


def test_smoothing_removes_single_frame_flips():
    labels = figure(1).repeat(9, 1, 1)
    noisy = labels.clone()
    gen = torch.Generator().manual_seed(0)
    flips = torch.rand(labels.shape, generator=gen) < 0.1
    flips[[0, 2, 3, 5, 6, 8]] = False  # flips in frames 1, 4, 7 only: every 3-frame window holds at most one
    noisy[flips] = torch.randint(0, 25, (int(flips.sum()),), generator=gen)
    assert (noisy != labels).sum() > 1000
    out = smooth_motion(render_labels(noisy), window=3)
    assert torch.equal(decode_labels(out).long(), labels)
    assert torch.equal(out, render_labels(labels))  # exact palette colours


def test_smoothing_keeps_real_motion_and_the_window_1_is_off():
    moving = render_labels(figure(8, motion="wave"))
    assert smooth_motion(moving, window=1) is moving or torch.equal(smooth_motion(moving, window=1), moving)
    smoothed = decode_labels(smooth_motion(moving, window=3))
    original = decode_labels(moving)
    assert (smoothed == original).float().mean() > 0.97    # only pixels that change for a single frame differ
    assert not torch.equal(smoothed[0], smoothed[-1])       # the motion is still there


def test_even_window_is_widened_with_a_warning():
    board = NoticeBoard()
    smooth_motion(render_labels(figure(3)), window=4, notices=board)
    assert board.messages and "window 4 is even" in board.messages[0] and "5 frames" in board.messages[0]


# --- alignment -------------------------------------------------------------------------------------------------

def boxes(labels: torch.Tensor) -> torch.Tensor:
    found = body_box(labels)
    return torch.tensor([found.x0, found.y0, found.x1, found.y1])


@pytest.mark.parametrize("ref_size", [(96, 80), (128, 128), (60, 100)])
def test_alignment_maps_the_driver_box_onto_the_reference_box(ref_size):
    drv = torch.zeros(5, 120, 90, dtype=torch.int64)
    drv[:, 20:100, 10:40] = 3               # a 30x80 body box at (10, 20)
    drv[2, 0:5, 0:5] = 7                    # one frame with a stray blob: the median ignores it
    ref = torch.zeros(1, *ref_size, dtype=torch.int64)
    rh, rw = ref_size
    ref[0, rh // 4:rh - 8, rw // 2:rw // 2 + 12] = 5
    out = align_motion(render_labels(drv), render_labels(ref), mode="scale_and_position")
    assert out.shape == (5, rh, rw, 3)
    got = boxes(decode_labels(out[0]))
    r = boxes(ref[0])
    scale = (r[3] - r[1]) / 80
    centre = (r[0] + r[2]) / 2
    expected = torch.tensor([centre - 15 * scale, r[1], centre + 15 * scale, r[3]])
    assert (got - expected).abs().max() <= 1.0, (got, expected)
    assert torch.equal(out, render_labels(decode_labels(out)))   # palette colours, background where uncovered


def test_alignment_of_a_synthetic_figure_lands_on_the_reference_figure():
    drv = figure(8, 128, 96, seed=2)
    ref = figure(1, 96, 96, seed=5)
    out = decode_labels(align_motion(render_labels(drv), render_labels(ref)))
    # Boxes as the alignment measures them (median of the first frames); the transform is monotone per axis.
    median = median_box(drv)
    d0, r = torch.tensor([median.x0, median.y0, median.x1, median.y1]), boxes(ref[0])
    aligned = median_box(out)
    got = torch.tensor([aligned.x0, aligned.y0, aligned.x1, aligned.y1])
    assert abs((got[3] - got[1]) - (r[3] - r[1])) <= 1 and abs(got[3] - r[3]) <= 1
    assert abs((got[0] + got[2]) / 2 - (r[0] + r[2]) / 2) <= 1
    assert abs((got[2] - got[0]) - (d0[2] - d0[0]) * (r[3] - r[1]) / (d0[3] - d0[1])) <= 1


def test_position_mode_keeps_the_scale_and_off_passes_through():
    drv = torch.zeros(2, 64, 64, dtype=torch.int64)
    drv[:, 10:40, 5:15] = 2
    ref = torch.zeros(1, 64, 64, dtype=torch.int64)
    ref[0, 20:60, 30:50] = 9
    moved = boxes(decode_labels(align_motion(render_labels(drv), render_labels(ref), mode="position")[0]))
    assert moved.tolist() == [35.0, 30.0, 45.0, 60.0]
    motion = render_labels(drv)
    assert torch.equal(align_motion(motion, render_labels(ref), mode="off"), motion)


def test_alignment_without_a_reference_body_warns_and_passes_through():
    motion = render_labels(figure(2))
    board = NoticeBoard()
    out = align_motion(motion, render_labels(torch.zeros(1, 64, 64, dtype=torch.int64)), notices=board)
    assert torch.equal(out, motion) and "no body found in reference_densepose" in board.text


def test_retarget_falls_back_with_a_warning_when_the_reference_shows_too_little():
    drv = figure(4, 96, 96, seed=2)
    ref = figure(1, 96, 96, seed=5)
    half = ref.clone()
    half[torch.isin(half, torch.tensor([5, 6, 11, 12, 13, 14]))] = 0      # no lower legs, no feet
    board = NoticeBoard()
    out = align_motion(render_labels(drv), render_labels(half), mode="retarget", notices=board)
    assert "retarget needs the torso, the head and a lower leg or a foot" in board.text
    assert torch.equal(out, align_motion(render_labels(drv), render_labels(half), mode="scale_and_position"))
    board = NoticeBoard()
    no_hands = ref.clone()
    no_hands[torch.isin(no_hands, torch.tensor([3, 4]))] = 0
    out = align_motion(render_labels(drv), render_labels(no_hands), mode="retarget", notices=board)
    assert "the reference does not show right hand, left hand" in board.text
    assert torch.equal(out, render_labels(decode_labels(out))) and out.shape == (4, 96, 96, 3)
    board = NoticeBoard()
    motion = render_labels(drv)
    out = align_motion(motion, render_labels(torch.zeros(1, 96, 96, dtype=torch.int64)), mode="retarget",
                       notices=board)
    assert torch.equal(out, motion) and "no body found in reference_densepose" in board.text


# --- colormap check and Parula conversion ----------------------------------------------------------------------

def parula(labels: torch.Tensor) -> torch.Tensor:
    return PARULA_COLORS[labels].float() / 255.0


def test_parula_conversion_round_trips():
    labels = figure(4, seed=3)
    assert torch.equal(parula_to_viridis(parula(labels)), render_labels(labels))
    assert torch.equal(decode_labels(parula_to_viridis(parula(labels)), PART_COLORS).long(), labels)


@pytest.mark.parametrize("kind", ["black background", "Parula", "plain footage"])
def test_colormap_check_flags_wrong_inputs(kind):
    labels = figure(4)
    if kind == "black background":
        frames = render_labels(labels) * (labels > 0)[..., None]
        cause = "black background"
    elif kind == "Parula":
        frames = parula(labels)
        cause = "parula→viridis"
    else:
        frames = synthetic_reference_image(64, 64)[None].repeat(4, 1, 1, 1)
        cause = "plain footage"
    check = measure_colormap(frames)
    assert not check.looks_like_densepose and cause in check.cause, check
    board = NoticeBoard()
    prepare_motion(frames, 64, 64, "crop", notices=board)
    assert len(board.messages) == 1 and cause in board.messages[0]
    assert f"only {check.viridis:.0%} of the pixels" in board.messages[0]


def test_prepare_motion_converts_parula_and_then_passes_the_check():
    labels = figure(3)
    board = NoticeBoard()
    out = prepare_motion(parula(labels), 64, 64, "crop", colormap="parula→viridis", notices=board)
    assert board.messages == [] and torch.equal(out, render_labels(labels))


@pytest.mark.parametrize("kind", ["viridis DensePose", "plain footage"])
def test_parula_conversion_of_something_else_warns(kind):
    frames = (render_labels(figure(2)) if kind.startswith("viridis")
              else synthetic_reference_image(64, 64)[None].repeat(2, 1, 1, 1))
    board = NoticeBoard()
    prepare_motion(frames, 64, 64, "crop", colormap="parula→viridis", notices=board)
    assert len(board.messages) == 1 and "black or a Parula part colour" in board.messages[0], board.messages


@pytest.mark.parametrize("name", ["densepose_running.mp4", "densepose_dancing2.mp4", "densepose_demo4.mp4"])
def test_colormap_check_passes_the_original_projects_densepose_videos(name):
    pixels, _ = read_video(requires_shared(MAGICANIMATE_INPUTS / name))
    frames = torch.from_numpy(pixels).float() / 255.0
    check = measure_colormap(frames)
    assert check.looks_like_densepose, check
    board = NoticeBoard()
    prepare_motion(frames[:8], 64, 64, "crop", notices=board)
    assert board.messages == []


def test_colormap_check_passes_synthetic_motion():
    assert measure_colormap(render_labels(figure(4))).looks_like_densepose


def test_compressed_colours_decode_to_their_parts():
    """Video compression moves colours a few units (the original's background is about 65, 0, 81)."""
    labels = figure(2)
    gen = torch.Generator().manual_seed(1)
    noisy = (render_labels(labels) + (torch.rand(*labels.shape, 3, generator=gen) - 0.5) * 6 / 255).clamp(0, 1)
    assert torch.equal(decode_labels(noisy).long(), labels)
    assert torch.equal(smooth_motion(noisy, window=3), render_labels(labels))

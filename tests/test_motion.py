"""Motion input: Prepare Motion geometry and frame selection, Synthetic Motion renderings."""
from __future__ import annotations

import pytest
import torch

from magic_core.motion import (
    DENSEPOSE_BACKGROUND,
    PART_COLORS,
    fit_frames,
    output_fps,
    prepare_motion,
    render_part_indices,
    render_synthetic_motion,
    select_frames,
)
from magic_core.notices import NoticeBoard

BACKGROUND = torch.tensor(DENSEPOSE_BACKGROUND, dtype=torch.float32) / 255.0


def column_coded(frames: int, height: int, width: int) -> torch.Tensor:
    """Red = column / width, green = row / height, blue = frame / frames: every pixel says where it came from."""
    f, y, x = torch.meshgrid(torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([x / width, y / height, f / frames], dim=-1).float()


def test_crop_keeps_the_centre_without_resampling():
    src = column_coded(2, 16, 32)                       # wide source, 16x16 target: scale 1, crop columns 8..23
    out = fit_frames(src, 16, 16, "crop")
    assert out.shape == (2, 16, 16, 3)
    assert torch.equal(out, src[:, :, 8:24])


def test_crop_scales_to_cover_then_crops():
    src = column_coded(1, 32, 16)                       # tall source -> 8x8: scale 0.5 gives 8x16, crop rows 4..11
    out = fit_frames(src, 8, 8, "crop")
    assert out.shape == (1, 8, 8, 3)
    green = out[0, :, 0, 1]                             # row coordinate of the source, averaged by the resize
    assert 0.2 < green[0].item() < 0.35 and 0.65 < green[-1].item() < 0.8
    assert torch.all(green[1:] > green[:-1])


def test_pad_fits_inside_and_fills_with_the_densepose_background():
    src = torch.full((3, 16, 32, 3), 0.5)
    out = fit_frames(src, 16, 16, "pad")                # 16x32 -> 8x16 centred, rows 0..3 and 12..15 padded
    assert out.shape == (3, 16, 16, 3)
    for rows in (slice(0, 4), slice(12, 16)):
        assert torch.allclose(out[:, rows], BACKGROUND.expand_as(out[:, rows]))
    assert torch.allclose(out[:, 4:12], torch.full_like(out[:, 4:12], 0.5), atol=1e-6)


def test_stretch_ignores_the_aspect_ratio():
    src = torch.zeros(1, 16, 32, 3)
    src[:, :, 16:] = 1.0                                # right half white
    out = fit_frames(src, 24, 24, "stretch")
    assert out.shape == (1, 24, 24, 3)
    assert torch.all(out[0, :, :10] < 0.05) and torch.all(out[0, :, 14:] > 0.95)   # the halves stay halves


def test_frame_selection_start_step_and_count():
    src = column_coded(10, 8, 8)
    picked = select_frames(src, start_frame=2, frame_count=3, every_nth=3)
    assert [round(v * 10) for v in picked[:, 0, 0, 2].tolist()] == [2, 5, 8]
    assert select_frames(src, 1, 0, 4).shape[0] == 3   # frames 1, 5, 9: 0 = all remaining
    out = prepare_motion(torch.cat([src, torch.ones(10, 8, 8, 1)], dim=-1), 16, 8, "stretch", 7, 0, 1)
    assert out.shape == (3, 8, 16, 3)                   # alpha dropped, frames 7..9


def test_frames_past_the_end_are_a_warning_with_the_numbers():
    board = NoticeBoard()
    out = prepare_motion(column_coded(25, 8, 8), 8, 8, "crop", start_frame=5, frame_count=40, every_nth=2,
                         notices=board)
    assert out.shape[0] == 10                           # frames 5, 7, ..., 23
    # (column-coded frames are not DensePose: the colormap check speaks too; only the frame-count line counts here)
    shortfall = [m for m in board.messages if "frame_count" in m]
    assert len(shortfall) == 1
    assert all(w in shortfall[0] for w in ("frame_count 40", "10 frames are used", "25 frames", "start_frame 5",
                                         "every_nth 2"))
    quiet = NoticeBoard()
    prepare_motion(column_coded(25, 8, 8), 8, 8, "crop", 5, 10, 2, notices=quiet)
    prepare_motion(column_coded(25, 8, 8), 8, 8, "crop", 5, 0, 2, notices=quiet)
    assert not [m for m in quiet.messages if "frame_count" in m]  # exactly what the video holds, or all


def test_output_fps_is_the_source_rate_over_every_nth():
    assert output_fps(25.0, 2) == 12.5 and output_fps(30.0, 1) == 30.0 and output_fps(24.0, 3) == 8.0


@pytest.mark.parametrize("kwargs, words", [
    ({"start_frame": 10}, ["start_frame 10", "0..9"]),
    ({"every_nth": 0}, ["every_nth", "0"]),
    ({"width": 30}, ["width 30", "multiple of 8", "32"]),
    ({"fit": "zoom"}, ["fit", "zoom"]),
])
def test_prepare_motion_bad_settings_are_clear_errors(kwargs, words):
    args = {"width": 16, "height": 16, "fit": "crop", "start_frame": 0, "frame_count": 0, "every_nth": 1} | kwargs
    with pytest.raises(ValueError) as err:
        prepare_motion(column_coded(10, 8, 8), **args)
    assert all(w in str(err.value) for w in words), str(err.value)


@pytest.mark.parametrize("frames, words", [
    (torch.zeros(0, 8, 8, 3), ["empty"]),
    (torch.zeros(2, 8, 8, 1), ["1 channels", "RGB"]),
    (torch.zeros(8, 8, 3), ["shape"]),
])
def test_prepare_motion_bad_frames_are_clear_errors(frames, words):
    with pytest.raises(ValueError) as err:
        prepare_motion(frames, 16, 16, "crop")
    assert "frames" in str(err.value) and all(w in str(err.value) for w in words)


def test_synthetic_motion_is_deterministic_coloured_and_moving():
    a = render_synthetic_motion(64, 96, 6, "walk", seed=4)
    assert a.shape == (6, 96, 64, 3) and a.dtype == torch.float32
    assert torch.equal(a, render_synthetic_motion(64, 96, 6, "walk", seed=4))
    assert not torch.equal(a, render_synthetic_motion(64, 96, 6, "walk", seed=5))
    assert torch.allclose(a[:, 0, 0], BACKGROUND.expand(6, 3))           # corners are the background
    colours = {tuple(c) for c in (a.reshape(-1, 3) * 255).round().to(torch.uint8).tolist()}
    assert colours <= {tuple(c) for c in PART_COLORS.tolist()}            # only DensePose part colours
    assert len(colours) >= 8                                              # background + many body parts
    for motion in ("walk", "wave", "turn"):
        parts = render_part_indices(64, 96, 8, motion, seed=1)
        body = (parts > 0).float().mean().item()
        assert 0.03 < body < 0.6, motion                                   # a figure, not empty or full
        changed = [(parts[i] != parts[i + 1]).float().mean().item() for i in range(7)]
        assert all(c > 0 for c in changed), (motion, changed)              # it moves every frame


def test_part_colours_are_viridis_at_the_densepose_grey_levels():
    # Anchors of the viridis map (matplotlib/OpenCV): 0 -> (68, 1, 84), 0.5 -> (33, 145, 140), 1 -> (253, 231, 37).
    assert PART_COLORS[0].tolist() == [68, 1, 84] and PART_COLORS[24].tolist() == [253, 231, 37]
    assert all(abs(a - b) <= 2 for a, b in zip(PART_COLORS[12].tolist(), [33, 145, 140], strict=True))
    assert PART_COLORS.shape == (25, 3) and len({tuple(c) for c in PART_COLORS.tolist()}) == 25


def test_synthetic_motion_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="motion must be one of"):
        render_synthetic_motion(16, 16, 2, "jump", 0)
    with pytest.raises(ValueError, match="frame_count must be at least 1"):
        render_synthetic_motion(16, 16, 0, "walk", 0)

"""The DensePose estimator's model input, box rules and person choice: the model sees exactly what
comfyui_controlnet_aux's preprocessor feeds it (OpenCV on uint8, its size rule), and `person` draws who the user
picked, followed from frame to frame."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from harness.tiny_densepose_torchscript import person_image, write_tiny_densepose_torchscript

from magic_core.motion import decode_labels, estimate_densepose, load_densepose_model
from magic_core.motion.detection_input import model_input
from magic_core.motion.detections import paint_detections
from magic_core.notices import NoticeBoard


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = write_tiny_densepose_torchscript(tmp_path_factory.mktemp("dp") / "densepose_r50_fpn_dl.torchscript")
    return load_densepose_model(str(path))


def controlnet_aux_input(image: np.ndarray, resolution: int) -> np.ndarray:
    """The reference: controlnet_aux's rule written out with OpenCV and NumPy."""
    h, w = image.shape[:2]
    k = float(resolution) / min(h, w)
    size = (int(np.round(w * k)), int(np.round(h * k)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    pad = ((0, -size[1] % 64), (0, -size[0] % 64), (0, 0))
    return np.pad(resized, pad, mode="edge").transpose(2, 0, 1)


@pytest.mark.parametrize("size", [(520, 776), (1080, 1920), (1918, 1078), (300, 400), (7, 9), (512, 700)])
@pytest.mark.parametrize("resolution", [512, 448])
def test_model_input_is_controlnet_aux_bit_for_bit(size, resolution):
    rng = np.random.default_rng(size[0] * 7 + resolution)
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    image[: size[0] // 2] = np.linspace(0, 255, size[1], dtype=np.uint8)[None, :, None]  # smooth half, noisy half
    got, scaled = model_input(torch.from_numpy(image), resolution)
    expected = controlnet_aux_input(image, resolution)
    assert got.dtype == torch.uint8 and tuple(got.shape) == expected.shape
    assert min(scaled) == resolution
    assert np.array_equal(got.numpy(), expected)


def test_frames_become_uint8_by_truncation():
    from magic_core.motion.detection_input import to_uint8_rgb
    x = torch.tensor([0.0, 0.5, 0.999, 1.0]).view(1, 1, 4, 1).repeat(1, 1, 1, 3)
    assert to_uint8_rgb(x)[0, 0, :, 0].tolist() == [0, 127, 254, 255]


def one_part_logits(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    coarse = torch.zeros(count, 2, 4, 4)
    coarse[:, 1] = 5.0
    fine = torch.zeros(count, 25, 4, 4)
    fine[:, 5] = 5.0
    return coarse, fine


def test_box_widths_come_from_float32_xywh_and_tiny_boxes_draw_nothing():
    # 3.1f - 0.1f is 3.0 in float32 (the reference's arithmetic) but 2.99999990 in float64.
    boxes = torch.tensor([[0.1, 0.1, 3.1, 3.1], [10.0, 10.0, 10.6, 20.0], [20.0, 20.0, 30.0, 20.9]])
    canvas = paint_detections(boxes, *one_part_logits(3), 32, 32)
    assert canvas[:3, :3].eq(5).all() and canvas.eq(5).sum() == 9      # a 3x3 box from x = y = 0
    assert canvas[10:20, 10:11].eq(0).all() and canvas[20:21, 20:30].eq(0).all()  # under 1 px: nothing


def test_output_size_detection_keeps_the_detection_size(model):
    image = person_image(100, 150, red=(20, 30, 80, 90))
    board = NoticeBoard()
    out = estimate_densepose(model, image, resolution=64, output_size="detection", notices=board)
    assert out.shape == (1, 64, 96, 3)
    assert "96x64 (the detection size) instead of the input's 150x100" in board.text
    assert estimate_densepose(model, image, resolution=64).shape == image.shape


def crossing(frames: int = 9, leave: tuple[int, ...] = ()) -> torch.Tensor:
    """Red walks left to right, blue right to left, a little lower; they cross in the middle frame."""
    video = []
    for f in range(frames):
        x_red, x_blue = 4 + 11 * f, 100 - 11 * f
        red = None if f in leave else (8, x_red, 52, x_red + 22)
        video.append(person_image(64, 128, red=red, blue=(12, x_blue, 60, x_blue + 24)))
    return torch.cat(video)


def body_centres(out: torch.Tensor) -> list[float | None]:
    labels = decode_labels(out)
    centres = []
    for frame in labels:
        cols = torch.nonzero((frame > 0).any(0)).flatten().float()
        centres.append(float(cols.mean()) if cols.numel() else None)
    return centres


def test_the_chosen_person_is_followed_when_people_cross(model):
    board = NoticeBoard()
    out = estimate_densepose(model, crossing(), resolution=64, person="leftmost", notices=board)
    for f, centre in enumerate(body_centres(out)):
        assert centre is not None and abs(centre - (4 + 11 * f + 11)) < 6, (f, centre)   # always red
    assert "person = leftmost: 9 other detected people in 9 of 9 frames" in board.text
    largest = body_centres(estimate_densepose(model, crossing(), resolution=64, person="largest"))
    assert all(abs(c - (100 - 11 * f + 12)) < 6 for f, c in enumerate(largest))        # always blue


def test_frames_where_the_chosen_person_left_are_named_once(model):
    board = NoticeBoard()
    out = estimate_densepose(model, crossing(leave=(6, 7, 8)), resolution=64, person="leftmost", notices=board)
    centres = body_centres(out)
    assert centres[6:] == [None, None, None] and all(c is not None for c in centres[:6])  # blue is never drawn
    lost = [m for m in board.messages if "was not found" in m]
    assert len(lost) == 1 and "3 of 9 frames (6-8)" in lost[0]


def test_by_mask_draws_only_the_people_inside_it(model):
    video = crossing(3)
    mask = torch.zeros(1, 64, 128)
    mask[0, :, 70:] = 1.0                                   # blue's side in frame 0
    centres = body_centres(estimate_densepose(model, video, resolution=64, person="by mask", mask=mask))
    assert all(abs(c - (100 - 11 * f + 12)) < 6 for f, c in enumerate(centres))
    per_frame = torch.zeros(3, 64, 128)
    per_frame[:, :, :64] = 1.0                              # the left half, every frame: red
    centres = body_centres(estimate_densepose(model, video, resolution=64, person="by mask", mask=per_frame))
    assert all(abs(c - (4 + 11 * f + 11)) < 6 for f, c in enumerate(centres))


def test_bad_masks_are_errors_or_warned_fallbacks(model):
    video = crossing(3)
    with pytest.raises(ValueError, match="the mask has 2 frames but the images have 3"):
        estimate_densepose(model, video, resolution=64, person="by mask", mask=torch.ones(2, 64, 128))
    with pytest.raises(ValueError, match="no mask is connected"):
        estimate_densepose(model, video, resolution=64, person="by mask")
    board = NoticeBoard()
    everyone = estimate_densepose(model, video, resolution=64)
    out = estimate_densepose(model, video, resolution=64, person="by mask", mask=torch.zeros(1, 64, 128),
                             notices=board)
    assert torch.equal(out, everyone) and "the mask is empty" in board.text
    board = NoticeBoard()
    small = torch.zeros(1, 32, 64)
    small[0, :, 35:] = 1.0
    out = estimate_densepose(model, video, resolution=64, person="by mask", mask=small, notices=board)
    assert "the mask is 64x32 but the frames are 128x64" in board.text
    assert abs(body_centres(out)[0] - 112) < 6
    board = NoticeBoard()
    estimate_densepose(model, video, resolution=64, mask=small, notices=board)
    assert "the mask is not used" in board.text

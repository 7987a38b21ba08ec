"""DensePose estimation: the real loader on a tiny TorchScript model with the real models' call and output layout,
rendered pixel for pixel against a renderer written here from the reference renderer's rules."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from harness.bad_files import write_malicious_ckpt
from harness.tiny_densepose_torchscript import person_image, write_tiny_densepose_torchscript

from magic_core.motion import estimate_densepose, load_densepose_model
from magic_core.motion.estimate import detection_size
from magic_core.notices import NoticeBoard

# The reference renderer's colours (OpenCV VIRIDIS of uint8(I * 255 / 24), as RGB), I = 1..24; background 68,1,84.
SPEC_VIRIDIS = [(71, 16, 99), (72, 31, 112), (71, 44, 122), (68, 57, 131), (64, 70, 136), (59, 81, 139),
                (54, 93, 141), (49, 104, 142), (44, 113, 142), (40, 124, 142), (37, 133, 142), (33, 144, 141),
                (31, 154, 138), (32, 163, 134), (39, 173, 129), (53, 183, 121), (70, 192,111), (92, 200, 99),
                (115, 208, 86), (142, 214, 69), (170, 220, 50), (197, 224, 33), (226, 228, 24), (253, 231, 37)]


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    return write_tiny_densepose_torchscript(tmp_path_factory.mktemp("densepose") / "densepose_r50_fpn_dl.torchscript")


@pytest.fixture(scope="module")
def model(tiny_model_file):
    return load_densepose_model(str(tiny_model_file))


def reference_render(image: torch.Tensor, tiny_model_file: Path) -> torch.Tensor:
    """uint8 RGB [H, W, 3] of one frame whose shorter side already is the resolution: pad to 64 (edge pixels),
    call the model, paint each detection's labels (later ones over earlier), colour, background, crop."""
    h, w = image.shape[1:3]
    x = (image[0] * 255).to(torch.uint8).permute(2, 0, 1)[None].float()
    x = F.pad(x, (0, -w % 64, 0, -h % 64), mode="replicate")[0].to(torch.uint8)
    boxes, coarse, fine, _, _ = torch.jit.load(str(tiny_model_file))(x)
    ph, pw = x.shape[1:]
    bgr = torch.zeros(ph, pw, 3, dtype=torch.int64)
    for i in range(boxes.shape[0]):
        x0, y0, x1, y1 = boxes[i].to(torch.float32)
        bx, by, bw, bh = int(x0), int(y0), int(x1 - x0), int(y1 - y0)  # float32 XYWH, then truncation
        if bw < 1 or bh < 1:
            continue
        c = F.interpolate(coarse[i:i + 1], size=(bh, bw), mode="bilinear", align_corners=False)[0].argmax(0)
        f = F.interpolate(fine[i:i + 1], size=(bh, bw), mode="bilinear", align_corners=False)[0].argmax(0)
        labels = f * (c > 0)
        for yy in range(bh):
            for xx in range(bw):
                py, px = by + yy, bx + xx
                if 0 <= py < ph and 0 <= px < pw and labels[yy, xx] > 0:
                    r, g, b = SPEC_VIRIDIS[int(labels[yy, xx]) - 1]
                    bgr[py, px] = torch.tensor([b, g, r])
    rgb = bgr.flip(-1)
    for ch, value in enumerate((68, 1, 84)):
        rgb[..., ch] = torch.where(rgb[..., ch] == 0, value, rgb[..., ch])
    return rgb[:h, :w].to(torch.uint8)


def as_uint8(out: torch.Tensor) -> torch.Tensor:
    return (out * 255).round().to(torch.uint8)


@pytest.mark.parametrize("case", ["one person, box past the right edge", "two people overlapping, box past the "
                                  "top-left corner", "odd width 77"])
def test_estimator_renders_the_reference_image_pixel_for_pixel(model, tiny_model_file, case):
    if case.startswith("one"):
        image = person_image(64, 100, red=(8, 60, 56, 100))        # touches the right edge: padding extends it
    elif case.startswith("two"):
        image = person_image(64, 96, red=(10, 30, 60, 90), blue=(0, 0, 40, 50))
    else:
        image = person_image(77, 64, red=(20, 10, 70, 50))
    out = estimate_densepose(model, image, resolution=64)
    assert out.shape == image.shape and out.dtype == torch.float32
    expected = reference_render(image, tiny_model_file)
    assert (expected != torch.tensor([68, 1, 84], dtype=torch.uint8)).any(dim=-1).sum() > 200  # a body is drawn
    assert torch.equal(as_uint8(out[0]), expected)


def test_two_people_are_both_rendered_and_the_later_one_on_top(model):
    image = person_image(64, 128, red=(4, 4, 60, 60), blue=(4, 70, 60, 124))
    labels = (as_uint8(estimate_densepose(model, image, resolution=64)[0]).int()
              - torch.tensor([68, 1, 84])).abs().sum(-1) > 0
    assert labels[:, :64].float().mean() > 0.3 and labels[:, 64:].float().mean() > 0.3


def test_no_person_gives_background_frames_and_names_them(model, caplog):
    person = person_image(64, 64, red=(10, 10, 50, 50))
    empty = person_image(64, 64)
    board = NoticeBoard()
    with caplog.at_level(logging.WARNING):
        out = estimate_densepose(model, torch.cat([person, empty, empty, person, empty]), resolution=64,
                                 notices=board)
    background = torch.tensor([68, 1, 84], dtype=torch.uint8)
    for i in (1, 2, 4):
        assert (as_uint8(out[i]) == background).all()
    assert not (as_uint8(out[0]) == background).all()
    assert len(board.messages) == 1 and "3 of 5 frames (1-2, 4)" in board.messages[0], board.messages
    assert "3 of 5 frames (1-2, 4)" in caplog.text


def test_detection_size_follows_the_shorter_side():
    assert detection_size(1920, 1080, 512) == (910, 512)        # portrait phone video at 512: 512x910
    assert detection_size(1080, 1920, 512) == (512, 910)
    assert detection_size(100, 100, 512) == (512, 512)
    assert detection_size(45, 67, 64) == (64, 95)               # round(95.29)
    assert detection_size(3, 5, 64) == (64, 107)                # round(106.67)


@pytest.mark.parametrize("size,resolution", [((67, 45), 64), ((200, 130), 64), ((96, 160), 128)])
def test_resized_frames_come_back_at_the_input_size_in_exact_palette_colours(model, size, resolution):
    h, w = size
    image = person_image(h, w, red=(h // 4, w // 4, 3 * h // 4, 3 * w // 4))
    out = as_uint8(estimate_densepose(model, image, resolution=resolution)[0])
    assert out.shape == (h, w, 3)
    palette = torch.tensor([(68, 1, 84), *SPEC_VIRIDIS], dtype=torch.uint8)
    assert (out[:, :, None, :] == palette[None, None]).all(-1).any(-1).all(), "a colour is not a palette colour"
    body = (out.int() - torch.tensor([68, 1, 84])).abs().sum(-1) > 0
    rows, cols = torch.nonzero(body.any(1)).flatten(), torch.nonzero(body.any(0)).flatten()
    # The tiny model's body is the red rectangle: its box, back at the input's size, within about 2 detection
    # pixels (resizing blurs the rectangle's edge by a pixel, nearest resizing back moves it by one).
    tol = 2 * -(-h // detection_size(h, w, resolution)[0]) + 1
    assert abs(rows[0] - h // 4) <= tol and abs(rows[-1] + 1 - 3 * h // 4) <= tol
    assert abs(cols[0] - w // 4) <= tol and abs(cols[-1] + 1 - 3 * w // 4) <= tol


def test_rgba_and_grey_inputs(model):
    rgb = person_image(64, 64, red=(10, 10, 50, 50))
    rgba = torch.cat([rgb, torch.ones(1, 64, 64, 1)], dim=-1)
    assert torch.equal(estimate_densepose(model, rgba, 64), estimate_densepose(model, rgb, 64))
    grey = torch.full((1, 64, 64, 1), 0.5)
    assert (as_uint8(estimate_densepose(model, grey, 64)) == torch.tensor([68, 1, 84], dtype=torch.uint8)).all()


def test_resolution_must_be_a_multiple_of_64(model):
    with pytest.raises(ValueError, match="resolution 100 is not a positive multiple of 64"):
        estimate_densepose(model, person_image(64, 64), resolution=100)


@pytest.mark.parametrize("kind", ["torch.save pickle (zip)", "legacy pickle", "plain pickle"])
def test_a_pickle_renamed_torchscript_is_refused_without_running(tmp_path, kind):
    marker = tmp_path / "ran.marker"
    path = tmp_path / "densepose_r50_fpn_dl.torchscript"
    if kind == "torch.save pickle (zip)":
        write_malicious_ckpt(path, marker)
    elif kind == "legacy pickle":
        from harness.bad_files import _TouchOnLoad
        torch.save({"payload": _TouchOnLoad(marker)}, path, _use_new_zipfile_serialization=False)
    else:
        from harness.bad_files import _TouchOnLoad
        path.write_bytes(pickle.dumps(_TouchOnLoad(marker)))
    with pytest.raises(ValueError) as info:
        load_densepose_model(str(path))
    assert not marker.exists(), "loading ran the pickle's payload"
    text = str(info.value)
    assert text.startswith("MagicAnimate DensePose estimator: ") and path.name in text and "refused" in text, text


def test_truncated_and_empty_files_are_clear_errors(tmp_path, tiny_model_file):
    empty = tmp_path / "empty.torchscript"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        load_densepose_model(str(empty))
    cut = tmp_path / "cut.torchscript"
    cut.write_bytes(tiny_model_file.read_bytes()[:2000])
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        load_densepose_model(str(cut))


def test_densepose_folder_registered_and_merged_with_extra_paths(comfy_host, tmp_path, tiny_model_file):
    """models/magicanimate/densepose/ is registered; an extra_model_paths.yaml entry (e.g. pointing at
    comfyui_controlnet_aux's ckpts folder) adds its files; the folder lists .torchscript files only."""
    import folder_paths

    from magic_core.model_paths import DENSEPOSE_FOLDER, model_file_names, model_file_path, register_model_folder
    paths, exts = folder_paths.folder_names_and_paths[DENSEPOSE_FOLDER]
    assert paths[0] == f"{folder_paths.models_dir}/magicanimate/densepose" and exts == {".torchscript"}
    saved = folder_paths.folder_names_and_paths.pop(DENSEPOSE_FOLDER)
    try:
        folder_paths.add_model_folder_path(DENSEPOSE_FOLDER, str(tmp_path))  # what the yaml entry does
        (tmp_path / "densepose_r101_fpn_dl.torchscript").write_bytes(tiny_model_file.read_bytes())
        (tmp_path / "notes.txt").write_text("not a model")
        register_model_folder()
        assert model_file_names((DENSEPOSE_FOLDER,)) == ["densepose_r101_fpn_dl.torchscript"]
        model = load_densepose_model(model_file_path("densepose_r101_fpn_dl.torchscript", (DENSEPOSE_FOLDER,)))
        assert model.name == "densepose_r101_fpn_dl.torchscript"
    finally:
        folder_paths.folder_names_and_paths[DENSEPOSE_FOLDER] = saved
        folder_paths.filename_list_cache.pop(DENSEPOSE_FOLDER, None)


def test_estimation_stops_when_cancelled(model):
    import comfy.model_management as mm

    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            estimate_densepose(model, person_image(64, 64, red=(10, 10, 50, 50)).repeat(3, 1, 1, 1), 64)
    finally:
        mm.interrupt_current_processing(False)

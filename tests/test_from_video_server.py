"""From a plain video to MagicAnimate motion through a real server: the shipped from-video workflow's DensePose
steps (estimate, smooth, align, Prepare Motion) on the tiny TorchScript model, their previews and their warnings
in the nodes' UI text."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from harness.prompts import load_workflow
from harness.server_files import PLAIN_VIDEO, PLAIN_VIDEO_AWAY, SHORT_FRAMES
from PIL import Image

BACKGROUND = np.array([68, 1, 84])
MOTION_STEPS = ("5", "6", "7", "23", "24", "25", "26", "27", "28", "29", "30", "8")


def motion_only(video: str = PLAIN_VIDEO) -> dict[str, Any]:
    """The from-video workflow up to Prepare Motion (64x64) and its previews, plus a preview of Prepare Motion."""
    wf = load_workflow("magicanimate_from_video_api.json")
    wf = {k: v for k, v in wf.items() if k in MOTION_STEPS}
    wf["6"]["inputs"]["file"] = video
    wf["8"]["inputs"].update(width=64, height=64)
    wf["31"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    return wf


def ui_text(entry: dict[str, Any], node: str) -> str:
    return "\n".join(str(t) for t in entry.get("outputs", {}).get(node, {}).get("text", []) or [])


def previews(server, entry: dict[str, Any], node: str) -> list[np.ndarray]:
    items = entry["outputs"][node]["images"]
    return [np.asarray(Image.open(server.base_dir / i["type"] / i["subfolder"] / i["filename"]).convert("RGB"))
            for i in items]


def body_box(frame: np.ndarray) -> tuple[int, int, int, int]:
    body = np.abs(frame.astype(int) - BACKGROUND).sum(-1) > 0
    rows, cols = np.nonzero(body.any(1))[0], np.nonzero(body.any(0))[0]
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def test_plain_video_becomes_aligned_densepose(workflow_files, comfy_server):
    entry = comfy_server.run(motion_only(), timeout=600)
    for node in ("24", "25", "26", "8"):
        assert ui_text(entry, node) == "", f"node {node} warned: {ui_text(entry, node)}"
    # The workflow retargets; the tiny model's "parts" are bands across each box, not a body, so Align Motion
    # falls back to scale_and_position and says so in its UI text (the geometry below is that mode's).
    assert "scale_and_position was used instead" in ui_text(entry, "27"), ui_text(entry, "27")
    video = previews(comfy_server, entry, "28")
    reference = previews(comfy_server, entry, "29")
    aligned = previews(comfy_server, entry, "30")
    assert len(video) == len(aligned) == SHORT_FRAMES and len(reference) == 1
    assert video[0].shape[:2] == (112, 64)                     # the portrait video's size
    assert aligned[0].shape == reference[0].shape == (96, 80, 3)  # aligned: framed like the reference photo
    palette_share = np.mean([(np.abs(f.astype(int) - BACKGROUND).sum(-1) == 0).mean() for f in aligned])
    assert 0.5 < palette_share < 0.99                          # a body on the DensePose background
    # The aligned body stands where the reference person stands: same height and bottom centre (first frames,
    # median; the walking figure's box changes a little from frame to frame).
    boxes = np.array([body_box(f) for f in aligned[:8]])
    x0, y0, x1, y1 = np.median(boxes, axis=0)
    rx0, ry0, rx1, ry1 = body_box(reference[0])
    assert abs((y1 - y0) - (ry1 - ry0)) <= 1.5 and abs(y1 - ry1) <= 1.5
    assert abs((x0 + x1) / 2 - (rx0 + rx1) / 2) <= 1.5
    prepared = previews(comfy_server, entry, "31")
    assert len(prepared) == SHORT_FRAMES and prepared[0].shape == (64, 64, 3)


def test_frames_without_the_dancer_are_named_in_the_estimators_text(workflow_files, comfy_server):
    """The dancer leaves the picture in frames 4-6: background frames there, one warning naming them."""
    entry = comfy_server.run(motion_only(PLAIN_VIDEO_AWAY[0]), timeout=600)
    assert f"no person found in 3 of {SHORT_FRAMES} frames (4-6)" in ui_text(entry, "24"), ui_text(entry, "24")
    assert ui_text(entry, "25") == "" and "retarget needs" in ui_text(entry, "27")
    video = previews(comfy_server, entry, "28")
    assert all((np.abs(video[i].astype(int) - BACKGROUND).sum(-1) == 0).all() for i in (4, 5, 6))
    assert not (np.abs(video[3].astype(int) - BACKGROUND).sum(-1) == 0).all()


@pytest.mark.parametrize("colormap,expected", [("viridis", "plain footage"), ("parula→viridis", "Parula part")])
def test_prepare_motion_flags_plain_footage_in_the_node_text(workflow_files, comfy_server, colormap, expected):
    wf = {k: v for k, v in load_workflow("magicanimate_from_video_api.json").items() if k in ("6", "7", "8")}
    wf["8"]["inputs"].update(frames=["7", 0], width=64, height=64, colormap=colormap)
    wf["31"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    entry = comfy_server.run(wf, timeout=600)
    text = ui_text(entry, "8")
    assert text.count("MagicAnimate motion:") == 1 and expected in text, text

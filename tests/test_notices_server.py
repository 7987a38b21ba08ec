"""What the pack changed about the inputs, through a real server: each warning in its node's UI text (``/history``)
and in the server log, the corrected fps in the saved mp4, and the window-length error before any model loads.
The shipped workflows' own runs (tests/test_workflows.py) check that nothing is said when nothing was changed."""
from __future__ import annotations

import pytest
from harness.history import ui_texts
from harness.media import read_video
from harness.prompts import load_workflow, small
from harness.server import execution_error
from harness.server_files import REFERENCES, SHORT_FRAMES, VIDEO_FPS


def _basic(steps: int = 1) -> dict:
    return small(load_workflow("magicanimate_basic_api.json"), size=64, steps=steps, context=8, overlap=2)


def test_warnings_in_node_text_and_log_and_the_fps_follows_every_nth(workflow_files, comfy_server):
    """One run, three changes: every 2nd of the 12 frames with frame_count 40 (6 given, 12.5 fps), a batch of two
    64x64 references, and a 96x64 video for them (a third of their height cropped away)."""
    wf = _basic()
    wf["8"]["inputs"].update(every_nth=2, frame_count=40, width=96, height=64)
    wf["9"]["inputs"].update(width=96, height=64)
    wf["30"] = {"class_type": "LoadImage", "inputs": {"image": REFERENCES[1]}}
    wf["31"] = {"class_type": "ImageBatch", "inputs": {"image1": ["5", 0], "image2": ["30", 0]}}
    wf["11"]["inputs"]["reference_image"] = ["31", 0]
    entry = comfy_server.run(wf, timeout=900)
    texts = ui_texts(entry)
    assert f"{SHORT_FRAMES // 2} frames on cpu, 1 per VAE decode" in texts.pop("17", ""), texts  # informational
    assert set(texts) == {"8", "11", "16"}, texts
    assert "frame_count 40" in texts["8"] and f"{SHORT_FRAMES // 2} frames are used" in texts["8"]
    assert f"{SHORT_FRAMES} frames" in texts["8"] and "every_nth 2" in texts["8"]
    assert "holds 2 images" in texts["11"]
    assert "64x64 reference" in texts["16"] and "96x64 video" in texts["16"] and "67% of its height" in texts["16"]
    assert "reference_fit to pad" in texts["16"]
    log = comfy_server.log_text()
    assert all(text in log for text in texts.values())
    video = next(p for p in comfy_server.output_files(entry) if p.suffix == ".mp4")
    pixels, fps = read_video(video)
    assert pixels.shape[0] == SHORT_FRAMES // 2 and fps == pytest.approx(VIDEO_FPS / 2)

    padded = _basic()
    padded["8"]["inputs"].update(width=96, height=64)
    padded["9"]["inputs"].update(width=96, height=64)
    padded["11"]["inputs"]["reference_fit"] = "pad"
    padded_texts = ui_texts(comfy_server.run(padded, timeout=900))
    padded_texts.pop("17", None)                                     # Decode Frames' informational text
    assert padded_texts == {}                                        # pad: nothing cut, nothing to say


def test_window_longer_than_the_encoding_fails_before_any_model_loads(workflow_files, comfy_server):
    wf = _basic()
    wf["6"]["inputs"]["file"] = "magicanimate_densepose_long.mp4"
    wf["8"]["inputs"]["frame_count"] = 30
    wf["16"]["inputs"].update(context_frames=30, context_overlap=4)
    start = len(comfy_server.log_text())
    entry = comfy_server.wait(comfy_server.queue(wf), timeout=900)
    message = execution_error(entry)
    assert message and "window of 30 frames" in message and "24-frame positional encoding" in message
    log = comfy_server.log_text()[start:]
    before_error = log[: log.index("window of 30 frames")]
    loads = [line for line in before_error.splitlines() if "Requested to load" in line]
    assert all("Clip" in line for line in loads), loads        # only the text encoder ran, no UNet / VAE / motion
    after = log[log.index("window of 30 frames"):]
    assert "Requested to load" not in after.split("got prompt")[0]

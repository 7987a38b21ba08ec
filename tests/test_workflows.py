"""The shipped workflows, end to end: API format through a real server, UI format through a real browser."""
from __future__ import annotations

import json
import shutil
import time

import pytest
from harness.browser import browser_unavailable_reason, frontend
from harness.history import ui_texts
from harness.media import read_video, read_webp
from harness.paths import API_WORKFLOWS, MAGICANIMATE_INPUTS, PACK_DIR_NAME, REPO, UI_WORKFLOWS, requires_shared
from harness.prompts import load_workflow, small
from harness.server import ExecutionFailed
from harness.server_files import LONG_FRAMES, SHORT_FRAMES, VIDEO_FPS

ARTIFACTS = REPO / "output" / "test-artifacts"
SIZE = 64
SYNTHETIC_FRAMES = 20
# name -> (frames, output size): the long workflow upscales 2x.
EXPECTED = {
    "magicanimate_basic": (SHORT_FRAMES, SIZE),
    "magicanimate_from_video": (SHORT_FRAMES, SIZE),
    "magicanimate_long_upscale": (LONG_FRAMES, 2 * SIZE),
    "magicanimate_synthetic": (SYNTHETIC_FRAMES, SIZE),
}


def test_every_workflow_has_both_formats():
    api = sorted(p.name[: -len("_api.json")] for p in API_WORKFLOWS.glob("*_api.json"))
    assert api == sorted(EXPECTED)
    assert sorted(p.stem for p in UI_WORKFLOWS.glob("*.json")) == api          # templates: UI workflows only
    assert sorted(p.stem for p in UI_WORKFLOWS.glob("*.jpg")) == api           # each with its thumbnail
    for name in api:
        ui = json.loads((UI_WORKFLOWS / f"{name}.json").read_text())
        assert {"nodes", "links"} <= set(ui), f"{name}.json is not a UI-format workflow"
        assert len(ui["nodes"]) == len(load_workflow(f"{name}_api.json"))


def test_template_browser_shows_exactly_the_ui_workflows_with_thumbnails(comfy_server):
    """ComfyUI lists every ``*.json`` of a pack's example_workflows/ (and workflows/) folder as a template: the
    server lists our four UI workflows and nothing else of ours, and the real frontend's template browser shows
    them, each with its .jpg thumbnail fetched and shown."""
    from PIL import Image

    names = sorted(EXPECTED)
    assert sorted(comfy_server.get("/workflow_templates")[PACK_DIR_NAME]) == names
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with frontend(comfy_server.url) as page:
        cards = page.extension_templates(PACK_DIR_NAME)
        fetched = {url for url, status in page.responses if status == 200}
    assert sorted(c["name"] for c in cards) == names, cards
    for card in cards:
        thumbnail = f"{comfy_server.url}/api/workflow_templates/{PACK_DIR_NAME}/{card['name']}.jpg"
        assert thumbnail in fetched, (thumbnail, sorted(u for u in fetched if "workflow_templates" in u))
        with Image.open(UI_WORKFLOWS / f"{card['name']}.jpg") as image:
            assert card["width"] == image.width, card                          # that file, decoded on the card


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_api_workflow_inputs_match_object_info(comfy_server, name):
    """/prompt ignores unknown inputs, so check names both ways against the server's node definitions."""
    info = comfy_server.object_info()
    for node_id, node in load_workflow(f"{name}_api.json").items():
        spec = info[node["class_type"]]["input"]
        known = set(spec.get("required", {})) | set(spec.get("optional", {}))
        assert set(node["inputs"]) <= known, f"{name} node {node_id}: unknown inputs {set(node['inputs']) - known}"
        missing = set(spec.get("required", {})) - set(node["inputs"])
        assert not missing, f"{name} node {node_id} ({node['class_type']}) lacks required inputs {missing}"


def _check_outputs(server, entry: dict, frames: int, size: int, fps: float) -> None:
    files = server.output_files(entry)
    videos = [f for f in files if f.suffix == ".mp4"]
    webps = [f for f in files if f.suffix == ".webp"]
    assert len(videos) == 1 and len(webps) == 1, files
    pixels, video_fps = read_video(videos[0])
    assert pixels.shape == (frames, size, size, 3)
    assert video_fps == pytest.approx(fps)
    count, (w, h), durations = read_webp(webps[0])
    assert (count, w, h) == (frames, size, size)
    assert durations[0] == pytest.approx(1000 / fps, abs=1)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_api_workflow_runs_through_server(workflow_files, comfy_server, name):
    wf = small(load_workflow(f"{name}_api.json"), size=SIZE)
    if name == "magicanimate_synthetic":
        wf["6"]["inputs"]["frame_count"] = SYNTHETIC_FRAMES
    frames, size = EXPECTED[name]
    try:
        entry = comfy_server.run(wf, timeout=900)
    except ExecutionFailed as err:
        pytest.fail(f"{name} failed: {err.message}")
    _check_outputs(comfy_server, entry, frames, size, VIDEO_FPS)
    texts = ui_texts(entry)
    if name == "magicanimate_from_video":
        # Align Motion retargets; the tiny DensePose model's labels are bands across each box, not a body, so it
        # falls back to scale_and_position and says so (tests/test_motion_retarget.py covers real figures).
        assert "scale_and_position was used instead" in texts.pop("27", ""), texts
    # Decode Frames says how it decoded (informational: the test server is a CPU one)
    assert f"{frames} frames on cpu, 1 per VAE decode" in texts.pop("17", ""), texts
    assert texts == {}, "the shipped workflow changed nothing else, so no other node may warn"


def test_basic_workflow_on_the_original_projects_inputs(workflow_files, comfy_server):
    """The real DensePose video and reference photo of the original demos (42 frames, 512x512, 25 fps)."""
    video = requires_shared(MAGICANIMATE_INPUTS / "densepose_running.mp4")
    reference = requires_shared(MAGICANIMATE_INPUTS / "source_monalisa.png")
    shutil.copy(video, workflow_files / "input" / "original_densepose_running.mp4")
    shutil.copy(reference, workflow_files / "input" / "original_source_monalisa.png")
    wf = small(load_workflow("magicanimate_basic_api.json"), size=SIZE, steps=2)
    wf["5"]["inputs"]["image"] = "original_source_monalisa.png"
    wf["6"]["inputs"]["file"] = "original_densepose_running.mp4"
    entry = comfy_server.run(wf, timeout=900)
    _check_outputs(comfy_server, entry, 42, SIZE, 25.0)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ui_workflow_in_real_browser(workflow_files, comfy_server, name):
    """Load the UI workflow as drag-and-drop does, check nothing is missing, queue it from the page."""
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    ui = json.loads((UI_WORKFLOWS / f"{name}.json").read_text())
    before = set(comfy_server.get("/history"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with frontend(comfy_server.url) as page:
        page.load_ui_workflow(ui)
        assert page.missing_node_types() == []
        assert page.widget_warnings() == [], page.widget_warnings()
        texts = [t for t in page.dialog_texts() if "missing" in t.lower() or "error" in t.lower()]
        assert texts == [], texts
        page.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        for node_type in ("MagicAnimatePrepareMotion", "EmptyLatentImage", "MagicAnimateSyntheticMotion"):
            page.set_widget(node_type, "width", SIZE)
            page.set_widget(node_type, "height", SIZE)
        page.set_widget("MagicAnimateSyntheticMotion", "frame_count", SYNTHETIC_FRAMES)
        assert page.set_widget("MagicAnimateFusionSampler", "steps", 2) == 1
        page.set_widget("MagicAnimateFusionSampler", "context_frames", 8)
        page.set_widget("MagicAnimateFusionSampler", "context_overlap", 2)
        page.queue()
        new = _wait_for_new_prompt(comfy_server, before)
        assert page.errors == [], page.errors
    entry = comfy_server.wait(new, timeout=900)
    assert entry["status"]["status_str"] == "success", entry["status"]
    frames, size = EXPECTED[name]
    _check_outputs(comfy_server, entry, frames, size, VIDEO_FPS)


def _wait_for_new_prompt(server, before: set[str], timeout: float = 60.0) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queue = server.get("/queue")
        running = [item[1] for item in queue.get("queue_running", []) + queue.get("queue_pending", [])]
        new = [pid for pid in list(server.get("/history")) + running if pid not in before]
        if new:
            return new[0]
        time.sleep(0.3)
    raise TimeoutError("the page did not queue a prompt")

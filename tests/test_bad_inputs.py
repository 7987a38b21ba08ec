"""The bad-input matrix through a real ComfyUI server, the way users hit it.

Every failing case must fail with a message naming the input, the value and the fix (in ``/history`` or as a
``/prompt`` validation error), leave the server up, and the next good prompt must succeed.  The observed
messages are written to ``tests/bad_input_matrix.md`` (the README's troubleshooting table).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from harness.history import ui_texts
from harness.media import read_webp
from harness.prompts import LOADER_NODES, basic_prompt, without_video_output
from harness.server import ExecutionFailed, PromptRejected, rss_kib
from harness.server_files import BIG_REFERENCE

MATRIX = Path(__file__).parent / "bad_input_matrix.md"
OBSERVED: dict[str, tuple[str, str]] = {}  # case -> (where, message)
FIX_WORDS = ("download", "pick", "put ", "copy", "load it with", "use ", "set ", "connect", "keep", "choose",
             "must be", "need")
BOUND_WORDS = ("max of", "min of")  # ComfyUI's own /prompt range check names the bound to stay within

# loader -> (kind of wrong file, words the message must contain besides the file name)
LOADER_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    *[("temporal", kind, words) for kind, words in (
        ("zero-byte", ("empty", "0 bytes")),
        ("renamed text (.ckpt)", ("could not be read",)),
        ("renamed text (.safetensors)", ("could not be read",)),
        ("truncated temporal .ckpt", ("truncated",)),
        ("SD1.5 checkpoint", ("stable diffusion checkpoint",)),
        ("LoRA", ("no motion-module keys",)),
        ("SDXL motion module", ("sdxl motion module",)),
        ("ControlNet (no config.json)", ("controlnet",)),
        ("appearance encoder (no config.json)", ("not a temporal attention file",)),
    )],
    *[("appearance", kind, words) for kind, words in (
        ("zero-byte", ("empty",)),
        ("renamed text (.safetensors)", ("could not be read",)),
        ("renamed text (.ckpt)", ("could not be read",)),
        ("truncated safetensors", ("truncated",)),
        ("truncated appearance_encoder (with config.json)", ("truncated",)),
        ("LoRA", ("not a unet",)),
        ("AnimateDiff v3 motion module", ("temporal attention",)),
        ("MagicAnimate temporal attention", ("temporal attention",)),
        ("ControlNet (no config.json)", ("controlnet",)),
        ("appearance encoder (no config.json)", ("config.json",)),
    )],
    *[("controlnet", kind, words) for kind, words in (
        ("zero-byte", ("empty",)),
        ("renamed text (.safetensors)", ("could not be read",)),
        ("renamed text (.ckpt)", ("could not be read",)),
        ("truncated safetensors", ("truncated",)),
        ("truncated densepose_controlnet (with config.json)", ("truncated",)),
        ("SD1.5 checkpoint", ("controlnet",)),
        ("LoRA", ("controlnet",)),
        ("AnimateDiff v3 motion module", ("controlnet",)),
        ("MagicAnimate temporal attention", ("controlnet",)),
        ("SDXL motion module", ("controlnet",)),
        ("appearance encoder (no config.json)", ("controlnet",)),
    )],
]
# loader -> (kind of file that legitimately loads, words in the server log)
LOADER_WORKING: list[tuple[str, str, str]] = [
    ("temporal", "AnimateDiff v3 motion module", "32-frame positional encoding"),
    ("appearance", "SD1.5 checkpoint", "full Stable Diffusion checkpoint"),
]
LOADER_TITLES = {"temporal": "Load MagicAnimate Temporal Attention", "appearance": "Load MagicAnimate Appearance "
                 "Encoder", "controlnet": "Load MagicAnimate DensePose ControlNet"}


def _failure(server, wf: dict[str, Any]) -> tuple[str, str]:
    """Run ``wf`` expecting failure: ('history' | 'validation', message); the server must stay up."""
    try:
        server.run(wf, timeout=300)
    except ExecutionFailed as err:
        where, message = "history", err.message
    except PromptRejected as err:
        where, message = "validation", _validation_text(err.body)
    else:
        pytest.fail("the prompt succeeded but should have failed")
    assert server.alive(), "the server died"
    return where, message


def _validation_text(body: dict[str, Any]) -> str:
    parts = []
    for node_id, node in (body.get("node_errors") or {}).items():
        for error in node.get("errors", []):
            parts.append(f"{node.get('class_type')} (node {node_id}): {error.get('message')}: {error.get('details')}")
    return "; ".join(parts) or str(body.get("error"))


def _record(case: str, where: str, message: str) -> None:
    OBSERVED[case] = (where, " ".join(message.split()))


def _assert_clear(message: str, words: tuple[str, ...], where: str = "history") -> None:
    low = message.lower()
    for word in words:
        assert word.lower() in low, f"{word!r} missing from: {message}"
    fixes = FIX_WORDS + (BOUND_WORDS if where == "validation" else ())
    assert any(w in low for w in fixes), f"no fix hint in: {message}"
    assert "traceback" not in low and "weights_only" not in low, message


def all_cases() -> list[str]:
    """Every case name of the matrix, in table order."""
    return ([f"{LOADER_TITLES[loader]}: {kind}" for loader, kind, _ in LOADER_CASES]
            + [f"(works) {LOADER_TITLES[loader]}: {kind}" for loader, kind, _ in LOADER_WORKING]
            + list(FAILING) + [EMPTY_BATCH_CASE] + [f"(works) {case}" for case in WORKING])


BEFORE: dict[str, int] = {}  # the server's log length and RSS once warmed up, before the first bad input


@pytest.fixture(scope="module")
def server(bad_model_files, workflow_files, comfy_server):
    """The session server with the bad files in place; good prompts first so models are cached and the
    first-use allocations are made before the memory baseline is taken."""
    comfy_server.run(_light(basic_prompt()), timeout=600)
    _good_run(comfy_server)
    BEFORE.update(log=len(comfy_server.log_text()), rss_kib=_settled_rss(comfy_server))
    return comfy_server


def _light(wf: dict[str, Any]) -> dict[str, Any]:
    return without_video_output(wf)


def _good_run(server, wf: dict[str, Any] | None = None) -> dict[str, Any]:
    entry = server.run(_light(wf or basic_prompt(frames=4)), timeout=300)
    assert entry["status"]["status_str"] == "success"
    return entry


def _webp(server, entry: dict[str, Any]) -> tuple[int, tuple[int, int]]:
    files = [f for f in server.output_files(entry) if f.suffix == ".webp"]
    assert len(files) == 1, files
    count, size, _ = read_webp(files[0])
    return count, size


@pytest.mark.parametrize("loader,kind,words", LOADER_CASES, ids=[f"{a}-{b}" for a, b, _ in LOADER_CASES])
def test_wrong_model_file(server, bad_model_files, loader: str, kind: str, words: tuple[str, ...]):
    node, key = LOADER_NODES[loader]
    name = bad_model_files[kind]
    wf = _light(basic_prompt(frames=4))
    wf[node]["inputs"][key] = name
    where, message = _failure(server, wf)
    assert Path(name).name in message, f"the file name is missing from: {message}"
    _assert_clear(message, words)
    _record(f"{LOADER_TITLES[loader]}: {kind}", where, message.replace(str(server.base_dir), "ComfyUI"))
    _good_run(server)


@pytest.mark.parametrize("loader,kind,log_words", LOADER_WORKING, ids=[f"{a}-{b}" for a, b, _ in LOADER_WORKING])
def test_other_model_file_that_works(server, bad_model_files, loader: str, kind: str, log_words: str):
    """Files of another kind that the loader accepts by design: AnimateDiff v3 as temporal attention (README),
    an SD1.5 checkpoint's UNet as the appearance encoder (same architecture; a warning names the file)."""
    node, key = LOADER_NODES[loader]
    wf = _light(basic_prompt(frames=4))
    wf[node]["inputs"][key] = bad_model_files[kind]
    log_start = len(server.log_text())
    entry = _good_run(server, wf)
    assert _webp(server, entry) == (4, (64, 64))
    if loader == "appearance":
        assert log_words in server.log_text()[log_start:], server.log_tail()
        assert log_words in ui_texts(entry).get(node, ""), ui_texts(entry)
    _record(f"(works) {LOADER_TITLES[loader]}: {kind}", "success",
            "4 frames of 64x64" + (f"; the node and the log warn: {log_words}" if loader == "appearance" else
                                   f" ({log_words}: windows up to 32 frames)"))
    _good_run(server)


# --- apply nodes and the sampler ------------------------------------------------------------------------
def _edit(**changes: dict[str, Any]) -> dict[str, Any]:
    """The 8-frame basic prompt with ``n<id>={input: value}`` changes; ``add={id: node}`` adds nodes."""
    wf = _light(basic_prompt(frames=8))
    wf.update(json.loads(json.dumps(changes.pop("add", {}))))
    for node, inputs in changes.items():
        wf[node.lstrip("n")]["inputs"].update(inputs)
    return wf


FAILING = {
    # case: (prompt changes, words the message must contain)
    "Frame-count mismatch: latent batch 6, DensePose 8 frames": (
        {"n9": {"batch_size": 6}}, ("8 densepose frames", "6 frames", "frame_count")),
    "Frame-count mismatch: latent batch 12, DensePose 8 frames (windows of 8)": (
        {"n9": {"batch_size": 12}}, ("8 densepose frames", "12 frames", "frame_count")),
    "Prepare Motion start_frame past the video (would leave 0 frames)": (
        {"n8": {"start_frame": 40}}, ("start_frame 40", "12 frames")),
    "Prepare Motion width not a multiple of 8": ({"n8": {"width": 100}}, ("width 100", "multiple of 8", "96")),
    "Window longer than the temporal encoding (context_frames 30, 30 frames)": (
        {"n6": {"file": "magicanimate_densepose_long.mp4"}, "n8": {"frame_count": 30},
         "n16": {"context_frames": 30}}, ("window of 30 frames", "24-frame", "context_frames")),
    "Overlap equal to the window (context_overlap 8, context_frames 8)": (
        {"n16": {"context_overlap": 8}}, ("context_overlap is 8", "context_frames 8", "smaller than the window")),
    "Overlap larger than the window (context_overlap 12, context_frames 8)": (
        {"n16": {"context_overlap": 12}}, ("context_overlap is 12", "smaller than the window")),
    "Temporal strength 3.0 (max 2.0)": ({"n15": {"strength": 3.0}}, ("strength", "3.0", "max of 2.0")),
    "Appearance strength -0.5 (min 0.0)": ({"n11": {"strength": -0.5}}, ("strength", "-0.5", "min of 0.0")),
    "DensePose strength 12.0 (max 10.0)": ({"n13": {"strength": 12.0}}, ("strength", "12.0", "max of 10.0")),
    "Fusion sampler denoise 1.5 (max 1.0)": ({"n16": {"denoise": 1.5}}, ("denoise", "1.5", "max of 1.0")),
    "Fusion sampler context_frames 0 (min 1)": ({"n16": {"context_frames": 0}}, ("context_frames", "0", "min of 1")),
    "Appearance start_percent > end_percent": (
        {"n11": {"start_percent": 0.8, "end_percent": 0.2}}, ("start_percent", "0.8", "end_percent")),
    "DensePose start_percent > end_percent": (
        {"n13": {"start_percent": 0.8, "end_percent": 0.2}}, ("start_percent 0.8", "end_percent 0.2")),
}


@pytest.mark.parametrize("case", list(FAILING))
def test_bad_setting(server, case: str):
    changes, words = FAILING[case]
    where, message = _failure(server, _edit(**changes))
    _assert_clear(message, words, where)
    _record(case, where, message)
    _good_run(server)


WORKING = {
    # case: (prompt changes, expected (frames, (width, height)))
    "1-frame video": ({"n8": {"frame_count": 1}}, (1, (64, 64))),
    "1 DensePose frame for an 8-frame latent": ({"n8": {"frame_count": 1}, "n9": {"batch_size": 8}}, (8, (64, 64))),
    "portrait 64x96": ({"n8": {"width": 64, "height": 96}, "n9": {"width": 64, "height": 96}}, (8, (64, 96))),
    "landscape 96x64": ({"n8": {"width": 96, "height": 64}, "n9": {"width": 96, "height": 64}}, (8, (96, 64))),
    "size not a multiple of 64 (72x40)": (
        {"n8": {"width": 72, "height": 40}, "n9": {"width": 72, "height": 40}}, (8, (72, 40))),
    "reference (128x96) larger than the video (64x64)": ({"n5": {"image": BIG_REFERENCE}}, (8, (64, 64))),
    "window longer than the video (context_frames 16, 8 frames)": ({"n16": {"context_frames": 16}}, (8, (64, 64))),
    "DensePose 64x64 for a 96x64 latent (hints resized to the latent)": (
        {"n9": {"width": 96, "height": 64}}, (8, (96, 64))),
    "reference batch of 2 images (the first is used)": (
        {"add": {"30": {"class_type": "LoadImage", "inputs": {"image": BIG_REFERENCE}},
                 "31": {"class_type": "ImageBatch", "inputs": {"image1": ["5", 0], "image2": ["30", 0]}}},
         "n11": {"reference_image": ["31", 0]}}, (8, (64, 64))),
}


DECODE_NODE = "17"  # MagicAnimate Decode Frames in the shipped basic workflow


@pytest.mark.parametrize("case", list(WORKING))
def test_setting_that_works(server, case: str):
    changes, expected = WORKING[case]
    wf = _edit(**changes)
    wf["16"]["inputs"]["steps"] = 1
    entry = _good_run(server, wf)
    assert _webp(server, entry) == expected
    count, (width, height) = expected
    texts = ui_texts(entry)
    # Decode Frames always says how it decoded (informational, not a change to the input)
    assert "per VAE decode" in texts.pop(DECODE_NODE, ""), texts
    warnings = " ".join(f"node {node}: {text}" for node, text in sorted(texts.items()))
    _record(f"(works) {case}", "success",
            f"{count} frame{'s' * (count != 1)} of {width}x{height}" + (f"; warns: {warnings}" if warnings else ""))


EMPTY_BATCH_CASE = "Empty IMAGE batch (in-process: no core node makes one)"


def test_empty_image_batch_in_process():
    """No core node makes a 0-frame IMAGE (ImageFromBatch clamps to >= 1 frame; Prepare Motion refuses a
    start_frame past the end), so the empty batch is checked at the pack's entry points directly."""
    import torch

    from magic_core.densepose.control import apply_densepose
    from magic_core.motion.prepare import prepare_motion

    empty = torch.zeros(0, 64, 64, 3)
    with pytest.raises(ValueError, match=re.escape("MagicAnimate frames: the IMAGE batch is empty (0 frames)")):
        prepare_motion(empty, 64, 64, "crop")
    with pytest.raises(ValueError, match=re.escape("MagicAnimate densepose: the IMAGE batch is empty (0 frames)")):
        apply_densepose([], [], None, empty)
    _record(EMPTY_BATCH_CASE, "in-process",
            "MagicAnimate densepose: the IMAGE batch is empty (0 frames); connect a video or image with frames.")


def _settled_rss(server) -> int:
    """The server's RSS after its caches are emptied and one good prompt ran again: what the server holds for
    one prompt.  (ComfyUI 0.33's default cache keeps earlier prompts' outputs while RAM allows; that is a
    cache, not a leak, and the "Free model and node cache" button empties it.)"""
    server.free_memory()
    _good_run(server)
    return rss_kib(server.proc.pid)


def test_no_model_leak_after_the_matrix(server):
    """After every bad input above (many raise mid-sampling), a good prompt leaves nothing behind: ComfyUI logs
    no "memory leak with model" (a loaded model whose patcher died while the model stayed referenced) and the
    server's memory, with its caches emptied, is back within 5% of what it was before the first bad input."""
    _good_run(server)
    log = server.log_text()[BEFORE["log"]:]
    leaks = [line for line in log.splitlines() if "memory leak" in line.lower()]
    assert leaks == [], f"{len(leaks)} leak warning(s), the first: {leaks[0]}"
    after = _settled_rss(server)
    change = (after - BEFORE["rss_kib"]) / BEFORE["rss_kib"]
    assert abs(change) <= 0.05, f"server RSS {BEFORE['rss_kib']} KiB before the matrix, {after} KiB after"


def test_matrix_file():
    """Last test of the module: once every case passed, rewrite the Markdown table of observed messages (the
    README's troubleshooting table); in any run, the committed table has one row per case, in order."""
    cases = all_cases()
    if not set(cases) - set(OBSERVED):
        lines = ["# Bad-input matrix (observed messages)", "",
                 "Generated by `tests/test_bad_inputs.py` from what a real ComfyUI server reported "
                 "(`history`: the prompt's execution error; `validation`: `/prompt` refused it; `success`: the "
                 "case works and gives the output shown).", "",
                 "| case | where | message |", "| --- | --- | --- |"]
        for case in cases:
            where, message = OBSERVED[case]
            lines.append(f"| {case} | {where} | {message.replace('|', '/')} |")
        MATRIX.write_text("\n".join(lines) + "\n")
    rows = [line.split(" | ")[0].removeprefix("| ") for line in MATRIX.read_text().splitlines()
            if line.startswith("| ") and not line.startswith(("| case ", "| ---"))]
    assert rows == cases, "tests/bad_input_matrix.md is out of date: run tests/test_bad_inputs.py in full"

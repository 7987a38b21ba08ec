"""Cancel and repeat through the real server.

* Cancel: ``POST /interrupt`` during a long fusion-sampler run stops it within one window (counted by the test
  plugin's ``ReliabilityWindowLog``, one line per diffusion-model call), nothing stays attached to the cached
  models (the test plugin's ``ReliabilityModelState``), and the same prompt then gives the uninterrupted frames.
* Repeat: 20 prompts alternating two references and two DensePose videos keep the server's RSS flat and give
  identical frames for identical prompts.
"""
from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from typing import Any

import numpy as np
from harness.history import cached_nodes, output_frames, status_kinds
from harness.model_state import assert_clean, cached_model_state
from harness.paths import REPO
from harness.prompts import basic_prompt, without_video_output
from harness.server import rss_kib
from harness.server_files import DENSEPOSE, REFERENCES

MEASUREMENTS = REPO / "output" / "test-artifacts" / "reliability_measurements.json"
CANCEL_FRAMES, CANCEL_STEPS, CONTEXT, OVERLAP = 48, 4, 8, 2
SAMPLER = "16"


def _measured(**values: Any) -> None:
    """Keep the measured numbers (for the report) in output/test-artifacts/reliability_measurements.json."""
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(MEASUREMENTS.read_text()) if MEASUREMENTS.exists() else {}
    data.update(values)
    MEASUREMENTS.write_text(json.dumps(data, indent=1))


def _cancel_prompt(log_name: str) -> dict[str, Any]:
    """48 frames of the long DensePose video, 8-frame windows, with every model call logged."""
    wf = without_video_output(basic_prompt(frames=CANCEL_FRAMES, steps=CANCEL_STEPS, prefix="cancel"))
    wf["6"]["inputs"]["file"] = "magicanimate_densepose_long.mp4"
    wf["30"] = {"class_type": "ReliabilityWindowLog", "inputs": {"model": ["11", 0], "log_name": log_name}}
    wf[SAMPLER]["inputs"]["model"] = ["30", 0]
    return wf


def _calls(server, log_name: str) -> list[float]:
    path = server.base_dir / "output" / "reliability_probe" / f"{log_name}.log"
    if not path.exists():
        return []
    return [float(line.split()[0]) for line in path.read_text().splitlines() if line.strip()]


def _windows_per_run() -> int:
    from magic_core.fusion.windows import FusionSettings, context_windows

    return CANCEL_STEPS * len(context_windows(CANCEL_FRAMES, FusionSettings(CONTEXT, OVERLAP, 1, True)))


def test_interrupt_stops_within_one_window_leaves_models_clean_and_rerun_matches(workflow_files, comfy_server):
    tag = uuid.uuid4().hex[:8]
    ref_log, run_log = f"cancel_ref_{tag}", f"cancel_run_{tag}"
    reference = comfy_server.run(_cancel_prompt(ref_log), timeout=300)
    expected = output_frames(comfy_server, reference)
    assert expected.shape == (CANCEL_FRAMES, 64, 64, 3)
    ref_calls = _calls(comfy_server, ref_log)
    windows = _windows_per_run()
    assert len(ref_calls) % windows == 0, (len(ref_calls), windows)
    calls_per_window = len(ref_calls) // windows
    window_s = statistics.median(np.diff(ref_calls))

    prompt_id = comfy_server.queue(_cancel_prompt(run_log))
    deadline = time.time() + 120
    while len(_calls(comfy_server, run_log)) < windows // 3 * calls_per_window:
        assert time.time() < deadline, "the run did not start"
        time.sleep(0.01)
    sent = time.time()
    comfy_server.interrupt()
    at_interrupt = len(_calls(comfy_server, run_log))  # the flag is set before /interrupt answers
    entry = comfy_server.wait(prompt_id, timeout=120)
    assert "execution_interrupted" in status_kinds(entry), entry["status"]
    assert comfy_server.alive()
    done = len(_calls(comfy_server, run_log))
    windows_after = math.ceil((done - at_interrupt) / calls_per_window)
    assert windows_after <= 1, f"{windows_after} windows started after the interrupt"
    assert done < len(ref_calls)
    stopped = next(data["timestamp"] / 1000 for kind, data in entry["status"]["messages"]
                   if kind == "execution_interrupted")
    _measured(cancel={"windows_per_run": windows, "calls_at_interrupt": at_interrupt, "calls_done": done,
                      "windows_started_after_interrupt": windows_after, "median_window_s": round(window_s, 4),
                      "interrupt_to_stop_s": round(stopped - sent, 4),
                      "interrupt_to_stop_windows": round((stopped - sent) / window_s, 2)})

    assert_clean(cached_model_state(comfy_server, nonce=time.time_ns()))
    again = comfy_server.run(_cancel_prompt(run_log), timeout=300)
    assert SAMPLER not in cached_nodes(again)
    assert np.array_equal(output_frames(comfy_server, again), expected), "the rerun differs from the uninterrupted run"
    assert_clean(cached_model_state(comfy_server, nonce=time.time_ns()))


def _repeat_prompt(reference: str, densepose: str) -> dict[str, Any]:
    wf = without_video_output(basic_prompt(frames=4, steps=2, prefix="repeat"))
    wf["5"]["inputs"]["image"] = reference
    wf["6"]["inputs"]["file"] = densepose
    return wf


def test_twenty_prompts_keep_memory_flat_and_repeat_exactly(workflow_files, comfy_server):
    """(a, x), (b, x), (a, y), (b, y), ...: every prompt differs from the one before, so the sampler runs each
    time; prompts 4 apart are identical.  One unmeasured round first (first-use allocations)."""
    combos = [(ref, dp) for dp in DENSEPOSE for ref in REFERENCES]
    for combo in combos:
        comfy_server.run(_repeat_prompt(*combo), timeout=300)
    rss: list[int] = []
    frames: dict[tuple[str, str], list[np.ndarray]] = {}
    for i in range(20):
        combo = combos[i % len(combos)]
        entry = comfy_server.run(_repeat_prompt(*combo), timeout=300)
        assert SAMPLER not in cached_nodes(entry), "the sampler did not run"
        frames.setdefault(combo, []).append(output_frames(comfy_server, entry))
        rss.append(rss_kib(comfy_server.proc.pid))
    first, last = statistics.mean(rss[:5]), statistics.mean(rss[-5:])
    _measured(repeat={"rss_kib": rss, "first5_mean_kib": first, "last5_mean_kib": last,
                      "change_percent": round(100 * (last - first) / first, 2)})
    assert abs(last - first) <= 0.05 * first, f"RSS first five {first:.0f} KiB, last five {last:.0f} KiB"
    for combo, outs in frames.items():
        assert outs[0].shape == (4, 64, 64, 3)
        assert all(np.array_equal(outs[0], out) for out in outs[1:]), f"{combo}: identical prompts differ"
    firsts = [outs[0] for outs in frames.values()]
    assert all(not np.array_equal(a, b) for i, a in enumerate(firsts) for b in firsts[i + 1:]), \
        "different inputs gave the same frames"


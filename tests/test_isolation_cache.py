"""Isolation and ComfyUI's execution cache through the real server.

* Isolation: two prompts queued back to back that patch the same cached checkpoint differently (with and
  without temporal attention, different references) each give exactly what they give when run alone.
* Cache: changing only the reference image re-executes only that image's loader and the nodes downstream of
  it, read from ``/history``'s ``execution_cached`` message.
"""
from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
from harness.history import cached_nodes, output_frames
from harness.model_state import STATE_NODE, assert_clean, cached_model_state, state_prompt
from harness.prompts import basic_prompt, downstream, without_video_output
from harness.server_files import REFERENCES

SAMPLER = "16"


def _prompt(reference: str, temporal: bool) -> dict[str, Any]:
    """The basic workflow, 8 frames; without temporal attention the appearance encoder patches the plain model."""
    wf = without_video_output(basic_prompt(frames=8, steps=2, prefix="isolation"))
    wf["5"]["inputs"]["image"] = reference
    if not temporal:
        wf["11"]["inputs"]["model"] = ["1", 0]
        del wf["14"], wf["15"]
    return wf


def test_back_to_back_prompts_get_their_own_patches(workflow_files, comfy_server):
    """Each order once; the state probe between runs also empties ComfyUI's cache of everything but the loaders,
    so every sampler below really runs."""
    prompts = (_prompt(REFERENCES[0], temporal=True), _prompt(REFERENCES[1], temporal=False))
    alone = []
    for wf in prompts:
        assert_clean(cached_model_state(comfy_server, nonce=time.time_ns()))
        alone.append(output_frames(comfy_server, comfy_server.run(wf, timeout=300)))
    assert not np.array_equal(*alone)
    for order in ((0, 1), (1, 0)):
        assert_clean(cached_model_state(comfy_server, nonce=time.time_ns()))
        ids = [comfy_server.queue(prompts[i]) for i in order]  # queued together: the second waits in the queue
        entries = [comfy_server.wait(pid, timeout=300) for pid in ids]
        for i, entry in zip(order, entries, strict=True):
            assert entry["status"]["status_str"] == "success", entry["status"]
            assert SAMPLER not in cached_nodes(entry), "the sampler did not run"
            assert "1" in cached_nodes(entry), "the checkpoint was reloaded instead of shared"
            assert np.array_equal(output_frames(comfy_server, entry), alone[i]), f"prompt {i} differs from alone"
    assert_clean(cached_model_state(comfy_server, nonce=time.time_ns()))


def test_changing_only_the_reference_reruns_only_its_downstream(workflow_files, comfy_server):
    first = _prompt(REFERENCES[0], temporal=True)
    second = _prompt(REFERENCES[1], temporal=True)
    expected = {"5"} | downstream(second, "5")
    assert expected == {"5", "11", SAMPLER, "17", "20"}
    cached_model_state(comfy_server, nonce=time.time_ns())  # empties the cache but for the loaders
    before = comfy_server.run(first, timeout=300)
    for wf in (second, first):
        entry = comfy_server.run(wf, timeout=300)
        executed = set(wf) - cached_nodes(entry)
        assert executed == expected, f"re-executed {sorted(executed)}, expected {sorted(expected)}"
    assert not np.array_equal(output_frames(comfy_server, before),
                              output_frames(comfy_server, comfy_server.run(second, timeout=300)))


def test_state_probe_sees_patches(workflow_files, comfy_server):
    """The probe behind ``assert_clean`` can fail: given the temporal clone instead of the loader's model, it
    reports the clone's injections and additional models."""
    wf = state_prompt(time.time_ns())
    wf.update({k: v for k, v in basic_prompt().items() if k in ("14", "15")})
    wf[STATE_NODE]["inputs"]["model"] = ["15", 0]
    state = json.loads(comfy_server.run(wf, timeout=120)["outputs"][STATE_NODE]["reliability_state"][0])
    assert state["model"]["injections"] and state["model"]["additional_models"], state["model"]
    with pytest.raises(AssertionError, match="model carries"):
        assert_clean(state)

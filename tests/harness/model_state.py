"""What the test server's state probe (``probe_nodes.ReliabilityModelState``) reports about the cached models,
and the check that nothing of the pack is left on them."""
from __future__ import annotations

import json
from typing import Any

from .history import cached_nodes
from .prompts import basic_prompt

STATE_NODE = "40"


def state_prompt(nonce: int) -> dict[str, Any]:
    """The basic workflow's loaders (cached by ComfyUI when the same) feeding the test plugin's state probe."""
    wf = basic_prompt()
    nodes = {k: wf[k] for k in ("1", "10", "12", "14")}
    nodes[STATE_NODE] = {"class_type": "ReliabilityModelState", "inputs": {
        "model": ["1", 0], "appearance_encoder": ["10", 0], "temporal_attention": ["14", 0],
        "control_net": ["12", 0], "nonce": nonce}}
    return nodes


def cached_model_state(server, nonce: int) -> dict[str, Any]:
    """What the state probe reports about the cached models.

    When the loaders were not cached yet (nothing ran before), the probe runs once more on the cached ones."""
    entry = server.run(state_prompt(nonce), timeout=120)
    if not {"1", "10", "12", "14"} <= cached_nodes(entry):
        entry = server.run(state_prompt(nonce + 1), timeout=120)
    assert {"1", "10", "12", "14"} <= cached_nodes(entry), "the loaders were not the cached ones"
    return json.loads(entry["outputs"][STATE_NODE]["reliability_state"][0])


def assert_clean(state: dict[str, Any]) -> None:
    """No patch, injected module, hook, hint or recorded reference state left on the cached models."""
    for part in ("model", "appearance_encoder"):
        attached = {k: v for k, v in state[part].items() if v}
        assert not attached, f"{part} carries {attached}"
    control = {k: v for k, v in state["control_net"].items() if v}
    assert not control, f"the cached ControlNet carries {control}"
    assert state["live_reference_banks"] == 0, "recorded reference states outlived sampling"

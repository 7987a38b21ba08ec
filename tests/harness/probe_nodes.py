"""Test-only probe nodes for the test server (loaded by ``tiny_host_plugin``; never shipped to users).

* ``ReliabilityWindowLog``: MODEL -> a clone that appends one line per diffusion-model call (one call per fusion
  window on the test machine) to ``output/reliability_probe/<log_name>.log``: ``<time> <batch rows>``.  The
  result is unchanged (the wrapper only records).
* ``ReliabilityModelState``: an output node that reports, in ``/history``, what is attached to the cached models
  a workflow's loaders return (patches, wrappers, injected modules, hooks, ControlNet hints) and how many recorded
  reference states (``ReferenceBank``) are still alive in the server process, after unloading every model.
"""
from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Any

import comfy.model_management
import folder_paths
import torch
from comfy_api.latest import io

from .recorders import record_model_calls

LOG_FOLDER = "reliability_probe"


def _log_path(log_name: str) -> str:
    folder = os.path.join(folder_paths.get_output_directory(), LOG_FOLDER)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{os.path.basename(log_name)}.log")


class ReliabilityWindowLog(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReliabilityWindowLog", display_name="Reliability probe: log model calls", category="testing",
            inputs=[io.Model.Input("model"), io.String.Input("log_name", default="calls")],
            outputs=[io.Model.Output("logged_model")])

    @classmethod
    def execute(cls, model, log_name: str) -> io.NodeOutput:
        clone, _ = record_model_calls(model, with_layout=False, log_path=Path(_log_path(log_name)))
        return io.NodeOutput(clone)


def _module_state(module: torch.nn.Module) -> dict[str, Any]:
    """Injected (pack) modules and hooks anywhere in ``module``."""
    injected = sorted(name for name, m in module.named_modules()
                      if "magicanimate" in name or "magic_core" in type(m).__module__)
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
    return {"injected_modules": injected[:10], "hooks": hooks}


def _patcher_state(patcher) -> dict[str, Any]:
    """Everything a clone may attach to a ModelPatcher (empty on a loader's cached, unpatched model)."""
    options = patcher.model_options
    transformer = {k: v for k, v in options.get("transformer_options", {}).items() if v}
    return {
        "model_options": sorted(k for k, v in options.items() if k != "transformer_options" and v),
        "transformer_options": sorted(transformer),
        "wrappers": sorted(k for k, v in patcher.wrappers.items() if v),
        "callbacks": sorted(k for k, v in patcher.callbacks.items() if v),
        "object_patches": sorted(patcher.object_patches),
        "additional_models": sorted(patcher.additional_models),
        "injections": sorted(patcher.injections),
        "attachments": sorted(patcher.attachments),
        "weight_patches": len(patcher.patches),
        **_module_state(patcher.model),
    }


def _loaded_patchers() -> list[dict[str, Any]]:
    """ComfyUI's currently loaded models: which patcher, and what it carries."""
    out = []
    for loaded in comfy.model_management.current_loaded_models:
        patcher = loaded.model
        if patcher is not None:
            out.append({"class": type(patcher.model).__name__, "injections": sorted(patcher.injections),
                        "additional_models": sorted(patcher.additional_models)})
    return out


class ReliabilityModelState(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReliabilityModelState", display_name="Reliability probe: cached model state",
            category="testing", is_output_node=True,
            inputs=[io.Model.Input("model"),
                    io.Custom("MAGICANIMATE_APPEARANCE").Input("appearance_encoder"),
                    io.Custom("MAGICANIMATE_TEMPORAL").Input("temporal_attention"),
                    io.ControlNet.Input("control_net"),
                    io.Int.Input("nonce", default=0, min=0, max=2**62)],
            outputs=[])

    @classmethod
    def execute(cls, model, appearance_encoder, temporal_attention, control_net, nonce: int) -> io.NodeOutput:
        loaded = _loaded_patchers()
        before_unload = _module_state(model.model)
        # A clone's injections stay in the shared UNet while that clone is ComfyUI's loaded model (by design,
        # until another patcher of the model loads); unloading everything must leave the modules bare.
        comfy.model_management.unload_all_models()
        gc.collect()
        banks = sum(1 for o in gc.get_objects() if type(o).__name__ == "ReferenceBank")
        report = {
            "model": _patcher_state(model),
            "appearance_encoder": _patcher_state(appearance_encoder.patcher),
            "temporal_attention": {"built": len(getattr(temporal_attention, "built", {}) or {})},
            "control_net": {"cond_hint_original": control_net.cond_hint_original is not None,
                            "cond_hint": control_net.cond_hint is not None,
                            "previous_controlnet": control_net.previous_controlnet is not None,
                            **_module_state(control_net.control_model)},
            "live_reference_banks": banks,
            "loaded_before_unload": loaded,
            "model_modules_before_unload": before_unload,
            "nonce": nonce,
        }
        return io.NodeOutput(ui={"reliability_state": [json.dumps(report, sort_keys=True)]})


NODES = [ReliabilityWindowLog, ReliabilityModelState]

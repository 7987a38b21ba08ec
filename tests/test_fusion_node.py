"""The MagicAnimateFusionSampler node: schema, in-process run, and a 48-frame run through a real server."""
from __future__ import annotations

import importlib.util
import inspect

import pytest
import safetensors.torch
import torch
from harness.latents import empty_latent
from harness.object_info import combo_options
from harness.server import ExecutionFailed
from harness.server_files import TINY_CHECKPOINT
from harness.tiny_models import tiny_sd15_patcher

from magic_core.fusion.sampler import fusion_sample
from magic_core.fusion.windows import FusionSettings

pytestmark = pytest.mark.usefixtures("one_cpu_thread")

NODE_ID = "MagicAnimateFusionSampler"
DEFAULTS = {"seed": 1, "steps": 25, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform", "denoise": 1.0,
            "context_frames": 16, "context_overlap": 4, "context_stride": 1, "closed_loop": True,
            "schedule": "uniform", "fuse_method": "flat", "beta_schedule": "sqrt_linear (MagicAnimate)"}
# optional: saved workflows from before them get the defaults
OPTIONAL = {"noise": "shared (MagicAnimate)", "window_batch": 1, "multigpu": True}
EXPERT = ("context_stride", "closed_loop", "schedule", "fuse_method", "beta_schedule", "noise", "window_batch",
          "multigpu")


def test_node_schema_defaults_and_tooltips(comfy_host):
    node = comfy_host.NODE_CLASS_MAPPINGS[NODE_ID]
    required = node.INPUT_TYPES()["required"]
    optional = node.INPUT_TYPES()["optional"]
    assert list(required) == ["model", "positive", "negative", "latent_image", *DEFAULTS]
    assert list(optional) == list(OPTIONAL)
    for name, spec in {**required, **optional}.items():
        assert spec[1].get("tooltip"), f"{name} has no tooltip"
        if name in DEFAULTS or name in OPTIONAL:
            assert spec[1].get("default") == {**DEFAULTS, **OPTIONAL}[name], name
    assert {"uniform", "uniform_shifting", "static"} == set(combo_options(required["schedule"]))
    assert {"flat", "pyramid", "overlap_linear", "gaussian"} == set(combo_options(required["fuse_method"]))
    assert "dpmpp_2m" in combo_options(required["sampler_name"]) and "karras" in combo_options(required["scheduler"])
    assert ["shared (MagicAnimate)", "independent"] == list(combo_options(optional["noise"]))
    # the multigpu input says where it does nothing (ComfyUI without core MultiGPU, e.g. 0.3.75)
    no_multigpu = importlib.util.find_spec("comfy.multigpu") is None
    assert ("does nothing" in optional["multigpu"][1]["tooltip"]) == no_multigpu
    assert optional["window_batch"][1]["min"] == 1
    assert tuple(node.RETURN_TYPES) == ("LATENT",)


def test_expert_inputs_fold_where_comfyui_can(comfy_host):
    """ComfyUI 0.33 folds inputs marked ``advanced`` under the node's advanced toggle; 0.3.75's V3 API lacks the
    keyword, so there every input shows as before (and the node still loads)."""
    from comfy_api.latest import io

    folds = "advanced" in inspect.signature(io.Input.__init__).parameters
    inputs = comfy_host.NODE_CLASS_MAPPINGS[NODE_ID].INPUT_TYPES()
    specs = {**inputs["required"], **inputs["optional"]}
    marked = [name for name, spec in specs.items() if len(spec) > 1 and spec[1].get("advanced")]
    assert marked == (list(EXPERT) if folds else [])


def test_node_runs_the_core_sampler(comfy_host, fusion_conds):
    node = comfy_host.NODE_CLASS_MAPPINGS[NODE_ID]
    latent = empty_latent(20)
    args = dict(DEFAULTS, seed=3, steps=2, context_frames=8, context_overlap=2, fuse_method="pyramid")
    out = node.execute(tiny_sd15_patcher(0), *fusion_conds, latent, **args).result[0]
    expected = fusion_sample(tiny_sd15_patcher(0), *fusion_conds, latent, seed=3, steps=2, progress=False,
                             settings=FusionSettings(8, 2, 1, True, "uniform", "pyramid"))
    assert torch.equal(out["samples"], expected["samples"]) and out["samples"].shape == (20, 4, 4, 4)
    independent = node.execute(tiny_sd15_patcher(0), *fusion_conds, latent, **args, noise="independent").result[0]
    expected = fusion_sample(tiny_sd15_patcher(0), *fusion_conds, latent, seed=3, steps=2, progress=False,
                             settings=FusionSettings(8, 2, 1, True, "uniform", "pyramid"), noise="independent")
    assert torch.equal(independent["samples"], expected["samples"])
    assert not torch.equal(independent["samples"], out["samples"])


def fusion_workflow(frames: int, **sampler_inputs) -> dict:
    """Tiny checkpoint -> text encodes -> EmptyLatentImage(frames) -> fusion sampler -> SaveLatent."""
    inputs = dict(DEFAULTS, seed=1, steps=2)
    inputs.update(sampler_inputs)
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32, "batch_size": frames}},
        "5": {"class_type": NODE_ID, "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                "latent_image": ["4", 0], **inputs}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "fusion"}},
    }


def saved_latents(server, entry) -> list[torch.Tensor]:
    tensors = []
    for node_out in entry.get("outputs", {}).values():
        for item in node_out.get("latents", []) or []:
            path = server.base_dir / item.get("type", "output") / item.get("subfolder", "") / item["filename"]
            tensors.append(safetensors.torch.load_file(str(path))["latent_tensor"])
    return tensors


def test_48_frames_through_a_real_server(comfy_server):
    entry = comfy_server.run(fusion_workflow(48, steps=1))
    (latent,) = saved_latents(comfy_server, entry)
    assert latent.shape == (48, 4, 4, 4)
    assert torch.isfinite(latent).all() and latent.abs().sum() > 0
    # every frame was denoised (no frame left at its empty input), windows wrapped around the end
    assert (latent.flatten(1).abs().amax(1) > 0).all()


def test_workflow_without_the_noise_input_gets_the_shared_default(comfy_server):
    """API workflows saved before the ``noise`` input still validate, and sample as with its default."""
    settings = {"steps": 1, "context_frames": 8, "context_overlap": 2, "seed": 5}
    (old,) = saved_latents(comfy_server, comfy_server.run(fusion_workflow(20, **settings)))
    (explicit,) = saved_latents(comfy_server, comfy_server.run(
        fusion_workflow(20, **settings, noise="shared (MagicAnimate)")))
    (independent,) = saved_latents(comfy_server, comfy_server.run(
        fusion_workflow(20, **settings, noise="independent")))
    assert old.shape == (20, 4, 4, 4) and torch.equal(old, explicit)
    assert not torch.equal(old, independent)


def test_bad_overlap_through_the_server_names_the_input(comfy_server):
    with pytest.raises(ExecutionFailed) as err:
        comfy_server.run(fusion_workflow(20, context_frames=8, context_overlap=8))
    assert "context_overlap is 8" in err.value.message and "smaller than the window" in err.value.message

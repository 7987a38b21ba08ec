"""The harness itself, end to end: host, pack loading, tiny checkpoint, and a real server run."""
from __future__ import annotations

from harness.media import one_webp_output
from harness.paths import PACK_DIR_NAME
from harness.prompts import ksampler_workflow
from harness.tiny_models import load_tiny_checkpoint

CORE_ONLY_FRAMES = 8


def core_only_workflow(frames: int = CORE_ONLY_FRAMES, size: int = 64) -> dict:
    """CheckpointLoaderSimple -> CLIPTextEncode -> EmptyLatentImage(batch) -> KSampler -> VAEDecode -> WEBP."""
    return ksampler_workflow("foundation", frames, size=size, steps=4)


def test_tiny_checkpoint_loads_through_comfyui(tiny_checkpoint):
    model, clip, vae = load_tiny_checkpoint(tiny_checkpoint)
    unet = model.model.diffusion_model
    assert unet.model_channels == 32 and type(model.model.model_config).__name__ == "TinySD15"
    cond = clip.encode_from_tokens(clip.tokenize("a person"))
    assert cond.shape == (1, 77, 32)
    import torch
    pixels = vae.decode(torch.zeros(2, 4, 8, 8))
    assert pixels.shape == (2, 64, 64, 3)


def test_pack_loads_in_process(comfy_host):
    ids = pack_node_ids(comfy_host)
    assert "MagicAnimateSyntheticMotion" in ids and all(i.startswith("MagicAnimate") for i in ids)


def test_every_pack_node_in_object_info(comfy_host, comfy_server):
    info = comfy_server.object_info()
    log = comfy_server.log_text()
    assert "IMPORT FAILED" not in "\n".join(line for line in log.splitlines() if PACK_DIR_NAME in line), log
    pack_ids = pack_node_ids(comfy_host)
    assert pack_ids, "the pack declares no nodes"
    missing = [n for n in pack_ids if n not in info]
    assert not missing, f"nodes missing from /object_info: {missing}"
    for node_id in pack_ids:
        assert node_id.startswith("MagicAnimate")
        for section in ("required", "optional"):
            for name, spec in info[node_id]["input"].get(section, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_core_only_workflow_runs_on_tiny_checkpoint(comfy_server):
    one_webp_output(comfy_server, comfy_server.run(core_only_workflow()), CORE_ONLY_FRAMES)


def pack_node_ids(comfy_nodes) -> list[str]:
    """Node ids ComfyUI registered from the pack (in-process load)."""
    return [node_id for node_id, cls in comfy_nodes.NODE_CLASS_MAPPINGS.items()
            if getattr(cls, "RELATIVE_PYTHON_MODULE", "").endswith(PACK_DIR_NAME)]


def test_model_folder_registered_and_merged_with_extra_paths(comfy_host, tmp_path):
    import folder_paths

    from magic_core.model_paths import MODEL_FOLDER, register_model_folder
    paths, exts = folder_paths.folder_names_and_paths[MODEL_FOLDER]
    assert paths[0] == f"{folder_paths.models_dir}/magicanimate"
    assert {".safetensors", ".ckpt", ".pt", ".pth", ".bin"} <= exts
    # extra_model_paths.yaml adds its folder (with no extensions) before custom nodes load.
    saved = folder_paths.folder_names_and_paths.pop(MODEL_FOLDER)
    try:
        folder_paths.add_model_folder_path(MODEL_FOLDER, str(tmp_path))
        (tmp_path / "MagicAnimate" / "temporal_attention").mkdir(parents=True)
        (tmp_path / "MagicAnimate" / "temporal_attention" / "temporal_attention.ckpt").write_bytes(b"x")
        register_model_folder()
        paths, exts = folder_paths.folder_names_and_paths[MODEL_FOLDER]
        assert paths[0].endswith("models/magicanimate") and str(tmp_path) in paths
        assert "MagicAnimate/temporal_attention/temporal_attention.ckpt" in folder_paths.get_filename_list(MODEL_FOLDER)
    finally:
        folder_paths.folder_names_and_paths[MODEL_FOLDER] = saved
        folder_paths.filename_list_cache.pop(MODEL_FOLDER, None)

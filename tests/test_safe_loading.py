"""Safe loading: a ``.ckpt`` whose pickle would run code is refused by every loader without running it.

The payload (``pathlib.Path.touch`` on a marker file) is proven live: a full unpickler does create the marker.
Each loader is checked in-process (every file layout it reads) and through the real server.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from harness.bad_files import write_malicious_ckpt
from harness.prompts import LOADER_NODES, basic_prompt, without_video_output
from harness.server import ExecutionFailed
from harness.tiny_densepose import TINY_CONTROLNET_CONFIG

REFUSED = "refused without running it"
CONTROLNET_KEY = "controlnet_cond_embedding.conv_in.weight"


def test_payload_is_live(tmp_path: Path):
    """Guard against a harmless payload: unpickling it with ``weights_only=False`` creates the marker."""
    marker = tmp_path / "ran.marker"
    path = write_malicious_ckpt(tmp_path / "evil.ckpt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def _malicious_layouts(tmp_path: Path, marker: Path) -> dict[str, tuple[Callable, Path]]:
    """Loader case -> (loader function, a malicious file laid out as that loader expects)."""
    from magic_core.appearance.loading import load_appearance_encoder
    from magic_core.densepose.loader import load_densepose_controlnet
    from magic_core.temporal.loading import load_temporal_file

    mm_key = "down_blocks.0.motion_modules.0.temporal_transformer.norm.weight"
    temporal = write_malicious_ckpt(tmp_path / "temporal" / "temporal_attention.ckpt", marker, {mm_key: torch.ones(32)})
    appearance = write_malicious_ckpt(tmp_path / "appearance" / "diffusion_pytorch_model.ckpt", marker,
                                      {"conv_in.weight": torch.zeros(32, 4, 3, 3)})
    control_plain = write_malicious_ckpt(tmp_path / "controlnet" / "densepose.ckpt", marker,
                                         {CONTROLNET_KEY: torch.zeros(16, 3, 3, 3)})
    control_config = write_malicious_ckpt(tmp_path / "controlnet_cfg" / "diffusion_pytorch_model.bin", marker,
                                          {CONTROLNET_KEY: torch.zeros(16, 3, 3, 3)})
    (control_config.parent / "config.json").write_text(json.dumps(TINY_CONTROLNET_CONFIG))
    return {"temporal": (load_temporal_file, temporal), "appearance": (load_appearance_encoder, appearance),
            "controlnet (no config.json)": (load_densepose_controlnet, control_plain),
            "controlnet (with config.json)": (load_densepose_controlnet, control_config)}


@pytest.mark.parametrize("loader", ["temporal", "appearance", "controlnet (no config.json)",
                                    "controlnet (with config.json)"])
def test_loader_refuses_code_in_pickle(tmp_path: Path, loader: str):
    marker = tmp_path / "ran.marker"
    load, path = _malicious_layouts(tmp_path, marker)[loader]
    with pytest.raises(ValueError) as info:
        load(str(path))
    assert not marker.exists(), f"{loader}: unpickling ran the payload"
    text = str(info.value)
    assert path.name in text and REFUSED in text and "Unsupported global" in text, text
    assert "weights_only" not in text and "safe_globals" not in text, f"no advice to load unsafely: {text}"


@pytest.fixture(scope="module")
def malicious_in_server(workflow_files, tmp_path_factory) -> tuple[dict[str, str], Path]:
    """Malicious ``.ckpt`` files in the server's model folders (this module's own sub-folder); the marker a
    payload would create."""
    marker = tmp_path_factory.mktemp("safe_loading") / "server_ran.marker"
    names = {}
    for loader, root, name in (("temporal", "magicanimate", "evil_temporal.ckpt"),
                               ("appearance", "magicanimate", "evil_appearance.ckpt"),
                               ("controlnet", "controlnet", "evil_controlnet.ckpt")):
        folder = workflow_files / "models" / root / "safe_loading_malicious"
        write_malicious_ckpt(folder / name, marker, {"weight": torch.zeros(4)})
        names[loader] = f"safe_loading_malicious/{name}"
    yield names, marker
    for root in ("magicanimate", "controlnet"):
        shutil.rmtree(workflow_files / "models" / root / "safe_loading_malicious", ignore_errors=True)


@pytest.mark.parametrize("loader", ["temporal", "appearance", "controlnet"])
def test_server_refuses_code_in_pickle(malicious_in_server, comfy_server, loader: str):
    names, marker = malicious_in_server
    node, key = LOADER_NODES[loader]
    wf = without_video_output(basic_prompt(frames=4))
    wf[node]["inputs"][key] = names[loader]
    with pytest.raises(ExecutionFailed) as info:
        comfy_server.run(wf, timeout=300)
    assert not marker.exists(), f"{loader}: the server ran the payload"
    assert comfy_server.alive()
    message = info.value.message
    assert f"evil_{loader}.ckpt" in message and REFUSED in message, message
    comfy_server.run(without_video_output(basic_prompt(frames=4)), timeout=300)  # the next good prompt works

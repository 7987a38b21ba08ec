"""Temporal attention files: the official layouts and AnimateDiff variants load; wrong files get clear messages."""
from __future__ import annotations

import pytest
import torch
from harness.paths import OFFICIAL_TINY, requires_shared
from harness.tiny_temporal import TINY_WIDTHS

from magic_core.checkpoints import CheckpointError
from magic_core.temporal.loading import load_temporal_file

OFFICIAL_DIR = OFFICIAL_TINY / "MagicAnimate" / "temporal_attention"


def _widths_by_slot() -> dict[str, int]:
    down = {f"down_blocks.{i}.motion_modules.{j}": w for i, w in enumerate(TINY_WIDTHS) for j in range(2)}
    up = {f"up_blocks.{i}.motion_modules.{j}": w for i, w in enumerate(reversed(TINY_WIDTHS)) for j in range(3)}
    return {**down, **up}


@pytest.mark.parametrize("file_name", ["temporal_attention.ckpt", "temporal_attention_wrapped.ckpt"])
def test_official_tiny_files_load(file_name):
    path = requires_shared(OFFICIAL_DIR / file_name)
    weights = load_temporal_file(str(path))
    assert weights.widths == _widths_by_slot()
    assert weights.max_frames == 24 and not weights.has_mid_block
    raw = torch.load(OFFICIAL_DIR / "temporal_attention.ckpt", weights_only=True)
    assert set(weights.state_dict) == set(raw)  # every key kept, prefixes and wrapper removed
    for key, tensor in raw.items():
        assert torch.equal(weights.state_dict[key], tensor), key


def test_animatediff_variants_detected(temporal_files):
    v1 = load_temporal_file(str(temporal_files["v1"]))
    assert (v1.max_frames, v1.has_mid_block) == (24, False) and "v1" in v1.variant
    v2 = load_temporal_file(str(temporal_files["v2"]))  # wrapped torch pickle with module. prefixes
    assert (v2.max_frames, v2.has_mid_block) == (24, True) and v2.widths["mid_block.motion_modules.0"] == 64
    v3 = load_temporal_file(str(temporal_files["v3"]))
    assert (v3.max_frames, v3.has_mid_block) == (32, True) and "32-frame" in v3.variant


def test_unet_prefix_and_missing_pe_buffers(tmp_path, temporal_files):
    """``unet.``-prefixed keys load; files saved without the pe buffers get the original sinusoid."""
    from magic_core.temporal.module import sinusoidal_encoding

    sd = load_temporal_file(str(temporal_files["v1"])).state_dict
    stripped = {f"unet.{k}": v for k, v in sd.items() if not k.endswith("pos_encoder.pe")}
    torch.save(stripped, tmp_path / "no_pe.ckpt")
    weights = load_temporal_file(str(tmp_path / "no_pe.ckpt"))
    pe = weights.state_dict["up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0."
                            "attention_blocks.1.pos_encoder.pe"]
    assert weights.max_frames == 24 and torch.allclose(pe, sinusoidal_encoding(24, 32))
    # and the sinusoid is the one diffusers' AnimateDiff stores
    assert torch.allclose(sd["down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0."
                             "attention_blocks.0.pos_encoder.pe"], sinusoidal_encoding(24, 32), atol=1e-6)


def _error(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_temporal_file(str(path))
    return str(info.value)


def test_zero_byte_file(tmp_path):
    (tmp_path / "temporal_attention.ckpt").write_bytes(b"")
    message = _error(tmp_path / "temporal_attention.ckpt")
    assert "temporal_attention.ckpt" in message and "empty (0 bytes)" in message and "download it again" in message


@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_truncated_file(tmp_path, temporal_files, suffix):
    source = temporal_files["v1"] if suffix == ".safetensors" else temporal_files["v1_other"]
    data = source.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    message = _error(cut)
    assert f"cut{suffix}" in message and "truncated" in message and "download it again" in message


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.pth").write_text("just some text, not tensors\n" * 10)
    assert "could not be read as a checkpoint" in _error(tmp_path / "notes.pth")


def test_controlnet_file(tmp_path):
    import safetensors.torch

    path = tmp_path / "diffusion_pytorch_model.safetensors"
    official = OFFICIAL_TINY / "MagicAnimate" / "densepose_controlnet" / "diffusion_pytorch_model.safetensors"
    if official.exists():
        path = official
    else:  # the key ComfyUI recognises diffusers ControlNets by, plus a few of their usual keys
        safetensors.torch.save_file({"controlnet_cond_embedding.conv_in.weight": torch.zeros(16, 3, 3, 3),
                                     "controlnet_down_blocks.0.weight": torch.zeros(32, 32, 1, 1),
                                     "conv_in.weight": torch.zeros(32, 4, 3, 3)}, str(path))
    message = _error(path)
    assert "is a ControlNet, not a temporal attention file" in message and path.name in message


def test_sd_checkpoint_file(tiny_checkpoint):
    message = _error(tiny_checkpoint)
    assert "Stable Diffusion checkpoint" in message and tiny_checkpoint.name in message
    assert "Load Checkpoint" in message


def test_sdxl_motion_module(temporal_files):
    message = _error(temporal_files["sdxl"])
    assert "SDXL motion module" in message and "3 down blocks" in message and "SD1.5" in message


def test_missing_module_and_wrong_shape(tmp_path, temporal_files):
    sd = load_temporal_file(str(temporal_files["v1"])).state_dict
    partial = {k: v for k, v in sd.items() if not k.startswith("up_blocks.3.")}
    torch.save(partial, tmp_path / "partial.ckpt")
    message = _error(tmp_path / "partial.ckpt")
    assert "incomplete" in message and "up_blocks.3.motion_modules.0" in message
    bad = dict(sd)
    key = "down_blocks.1.motion_modules.0.temporal_transformer.proj_in.weight"
    bad[key] = torch.zeros(32, 16)
    torch.save(bad, tmp_path / "bad_shape.ckpt")
    message = _error(tmp_path / "bad_shape.ckpt")
    assert key in message and "(32, 16)" in message and "expected (32, 32)" in message
    less = dict(sd)
    del less["down_blocks.2.motion_modules.1.temporal_transformer.transformer_blocks.0.ff_norm.bias"]
    torch.save(less, tmp_path / "less.ckpt")
    assert "down_blocks.2.motion_modules.1.temporal_transformer.transformer_blocks.0.ff_norm.bias" in _error(
        tmp_path / "less.ckpt")


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return int(next(line for line in f if line.startswith(field + ":")).split()[1])


def test_release_layout_reads_only_the_motion_modules(tmp_path):
    """The release's file is the whole UNet3D: its 686 spatial UNet tensors are left unread (memory-mapped file,
    only the motion modules touched), and the loader says they are not used."""
    from magic_core.notices import NoticeBoard

    motion = torch.load(requires_shared(OFFICIAL_DIR / "temporal_attention.ckpt"), weights_only=True)
    spatial_bytes = 384 * 2**20
    per_tensor = spatial_bytes // 686 // 4
    # views of one storage (saved once): one large allocation, given back to the system when freed, so the RSS
    # measured below does not start with freed heap the loader could reuse unseen
    storage = torch.ones(686 * per_tensor)
    spatial = {f"down_blocks.{i % 4}.resnets.{i}.conv1.weight": storage[i * per_tensor:(i + 1) * per_tensor]
               for i in range(686)}
    path = tmp_path / "temporal_attention.ckpt"
    torch.save({**motion, **spatial}, path)
    del spatial, storage
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # resets this process's peak RSS (VmHWM) to its current RSS
    except OSError:
        pytest.skip("this kernel does not let a process reset its peak RSS (/proc/self/clear_refs)")
    before = _status_kib("VmRSS")
    board = NoticeBoard()
    weights = load_temporal_file(str(path), notices=board)
    grew = (_status_kib("VmHWM") - before) * 1024
    kept = sum(t.numel() * t.element_size() for t in weights.state_dict.values())
    assert set(weights.state_dict) == set(motion) and weights.unused_spatial == 686
    assert all(torch.equal(weights.state_dict[k], v) for k, v in motion.items())
    assert grew < kept + 64 * 2**20 < spatial_bytes, (grew, kept)
    assert board.messages == ["MagicAnimate temporal attention: 686 spatial UNet weights in this file are not used: "
                              "the UNet comes from your checkpoint (only the file's 560 motion-module weights are "
                              "loaded)."]

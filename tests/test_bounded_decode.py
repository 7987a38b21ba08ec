"""The shipped workflows decode the sampled video with MagicAnimate Decode Frames: on a CPU one frame per VAE
decode (bounded memory, and the fastest there), elsewhere every frame to ``VAE.decode`` (which splits by free
memory, as core's VAE Decode); the frames are those of one core VAE Decode, in order."""
from __future__ import annotations

import nodes
import pytest
import torch
from harness.official_vae import comfy_official_vae
from harness.paths import API_WORKFLOWS
from harness.prompts import load_workflow

from magic_core.decode import decode_frames, plan_decode

SAMPLER_KIND = "MagicAnimateFusionSampler"
DECODE_KIND = "MagicAnimateDecodeFrames"
NAMES = sorted(p.name for p in API_WORKFLOWS.glob("*_api.json"))


class RecordingVAE:
    """Passes ``decode`` to a real ComfyUI VAE and records each call's frame count; ``device`` is what the plan
    sees (the decode itself runs where the real VAE is)."""

    def __init__(self, vae, device: str) -> None:
        self.vae, self.device, self.calls = vae, torch.device(device), []

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.calls.append(latent.shape[0])
        return self.vae.decode(latent)


@pytest.fixture(scope="module")
def vae(official_tiny):
    return comfy_official_vae(official_tiny, torch.float32)


def _ramp(frames: int) -> torch.Tensor:
    """Every frame distinct, and a ramp over frames so that a reordering shows."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(frames, 4, 8, 8, generator=generator) + torch.linspace(-1, 1, frames)[:, None, None, None]


def _assert_same_frames_in_order(ours: torch.Tensor, whole: torch.Tensor) -> None:
    assert ours.shape == whole.shape
    torch.testing.assert_close(ours, whole, rtol=0, atol=1e-5)  # batch-size rounding of the CPU convolutions only
    per_frame = (ours - whole).flatten(1).abs().amax(1)
    shifted = (ours[1:] - whole[:-1]).flatten(1).abs().amax(1)
    assert per_frame.max() < 1e-5 < shifted.min()


@pytest.mark.parametrize("name", NAMES)
def test_shipped_workflow_decodes_the_sampler_output_with_decode_frames(name):
    wf = load_workflow(name)
    decoders = [k for k, n in wf.items() if n["class_type"] == DECODE_KIND]
    assert decoders, f"{name} decodes nothing with {DECODE_KIND}"
    assert not [k for k, n in wf.items() if n["class_type"] in ("VAEDecode", "RebatchLatents", "RebatchImages")]
    for key in decoders:
        inputs = wf[key]["inputs"]
        assert wf[inputs["samples"][0]]["class_type"] == SAMPLER_KIND
        assert inputs["frames_per_decode"] == 0  # automatic: per device (what bench/ measures the peak with)


def test_cpu_decodes_one_frame_at_a_time_into_the_frames_of_one_vae_decode(vae):
    samples = _ramp(21)
    whole = nodes.VAEDecode().decode(vae, {"samples": samples})[0]
    recording = RecordingVAE(vae, "cpu")
    images, plan = decode_frames(recording, {"samples": samples}, progress=False)
    assert recording.calls == [1] * 21 and plan.per_decode == 1
    assert images.shape == (21, 64, 64, 3) and images.is_contiguous()
    _assert_same_frames_in_order(images, whole)
    assert "21 frames on cpu, 1 per VAE decode (21 decodes)" in plan.describe()


def test_an_accelerator_gets_every_frame_in_one_vae_decode(vae):
    """On a GPU core's ``VAE.decode`` sizes its batches by free VRAM: the node gives it all frames (the plan only
    reads the device; the decode here runs on the CPU VAE)."""
    samples = _ramp(9)
    recording = RecordingVAE(vae, "cuda:0")
    images, plan = decode_frames(recording, {"samples": samples}, progress=False)
    assert recording.calls == [9] and plan.per_decode == 9
    assert "free memory" in plan.describe()
    _assert_same_frames_in_order(images, nodes.VAEDecode().decode(vae, {"samples": samples})[0])


def test_frames_per_decode_set_by_the_user(vae):
    samples = _ramp(12)
    recording = RecordingVAE(vae, "cpu")
    images, plan = decode_frames(recording, {"samples": samples}, frames_per_decode=5, progress=False)
    assert recording.calls == [5, 5, 2]
    assert "frames_per_decode as set" in plan.describe()
    _assert_same_frames_in_order(images, nodes.VAEDecode().decode(vae, {"samples": samples})[0])
    assert plan_decode(3, torch.device("cpu"), 64).per_decode == 3


@pytest.mark.parametrize(("samples", "message"), [
    ({"samples": torch.zeros(0, 4, 8, 8)}, "no frames"),
    ({"samples": torch.zeros(1, 4, 2, 8, 8)}, "expected an image latent"),
    ({"latent": torch.zeros(1, 4, 8, 8)}, "must be a LATENT"),
])
def test_bad_latents_get_a_clear_error(vae, samples, message):
    with pytest.raises(ValueError, match=message):
        decode_frames(vae, samples, progress=False)


def test_node_shows_the_plan_in_its_ui_text(comfy_host, vae):
    node = comfy_host.NODE_CLASS_MAPPINGS[DECODE_KIND]
    spec = node.INPUT_TYPES()["required"]
    assert list(spec) == ["samples", "vae", "frames_per_decode"]
    assert all(options[1].get("tooltip") for options in spec.values())
    out = node.execute(samples={"samples": _ramp(3)}, vae=vae, frames_per_decode=0)
    assert out.result[0].shape == (3, 64, 64, 3)
    assert "3 frames on cpu, 1 per VAE decode" in str(out.ui.as_dict())

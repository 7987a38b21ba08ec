"""The shipped workflows decode in bounded batches with core nodes (Rebatch Latents -> VAEDecode -> Rebatch Images),
and that chain gives the frames of one VAEDecode, in order, as one batch."""
from __future__ import annotations

import sys

import nodes
import pytest
import torch
from comfy_extras.nodes_rebatch import ImageRebatch, LatentRebatch
from harness.official_vae import comfy_official_vae
from harness.paths import API_WORKFLOWS, REPO
from harness.prompts import load_workflow

sys.path.insert(0, str(REPO))
from bench.worker import DECODE_BATCH, JOIN_BATCH  # noqa: E402

SAMPLER_KIND = "MagicAnimateFusionSampler"
NAMES = sorted(p.name for p in API_WORKFLOWS.glob("*_api.json"))


@pytest.mark.parametrize("name", NAMES)
def test_shipped_workflow_decodes_sampler_output_in_bounded_batches(name):
    wf = load_workflow(name)
    decoders = [k for k, n in wf.items() if n["class_type"] == "VAEDecode"]
    assert decoders, f"{name} decodes nothing"
    for key in decoders:
        source = wf[wf[key]["inputs"]["samples"][0]]
        assert source["class_type"] == "RebatchLatents", f"{name}: VAEDecode {key} is not fed by Rebatch Latents"
        assert source["inputs"]["batch_size"] == DECODE_BATCH  # what bench/ measures the peak with
        assert wf[source["inputs"]["latents"][0]]["class_type"] == SAMPLER_KIND
        consumers = [n for n in wf.values() if [key, 0] in n["inputs"].values()]
        assert consumers and all(n["class_type"] == "RebatchImages" for n in consumers), \
            f"{name}: VAEDecode {key}'s list of batches must be joined before the savers"
        assert all(n["inputs"]["batch_size"] == JOIN_BATCH for n in consumers)


def test_join_batch_is_the_rebatch_nodes_maximum():
    spec = ImageRebatch.GET_SCHEMA() if hasattr(ImageRebatch, "GET_SCHEMA") else ImageRebatch.define_schema()
    batch_input = next(i for i in spec.inputs if i.id == "batch_size")
    assert batch_input.max == JOIN_BATCH


def test_rebatched_decode_equals_one_decode_in_frame_order(official_tiny):
    vae = comfy_official_vae(official_tiny, torch.float32)
    frames = 2 * DECODE_BATCH + 5  # two full batches and a remainder
    generator = torch.Generator().manual_seed(0)
    # every frame distinct, and a ramp over frames so that a reordering shows
    samples = torch.randn(frames, 4, 8, 8, generator=generator) + torch.linspace(-1, 1, frames)[:, None, None, None]
    whole = nodes.VAEDecode().decode(vae, {"samples": samples})[0]
    batches = LatentRebatch.execute([{"samples": samples}], [DECODE_BATCH]).result[0]
    assert [b["samples"].shape[0] for b in batches] == [DECODE_BATCH, DECODE_BATCH, 5]
    decoded = [nodes.VAEDecode().decode(vae, b)[0] for b in batches]
    joined = ImageRebatch.execute(decoded, [JOIN_BATCH]).result[0]
    assert len(joined) == 1
    assert joined[0].shape == whole.shape == (frames, 64, 64, 3)
    # same frames in the same order (batch-size rounding of the CPU convolutions only)
    torch.testing.assert_close(joined[0], whole, rtol=0, atol=1e-5)
    per_frame = (joined[0] - whole).flatten(1).abs().amax(1)
    shifted = (joined[0][1:] - whole[:-1]).flatten(1).abs().amax(1)
    assert per_frame.max() < 1e-5 < shifted.min()

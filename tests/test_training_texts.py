"""Image-text training and the way in without downloads: captions per sample with caption dropout, check-data
reporting uncaptioned items, the block figures and their exact cell VAE, the small base in one checkpoint file
with its architecture beside it (loaded without registering anything in ComfyUI), validation and previews."""
from __future__ import annotations

import json
import shutil

import comfy.supported_models
import pytest
import torch
from harness.tiny_training import tiny_base, tiny_config

from magic_core.errors import MagicAnimateError
from magic_core.training import figure_set as fs
from magic_core.training import figures as fg
from magic_core.training.cell_vae import cell_vae, cell_vae_state_dict
from magic_core.training.check import uncaptioned
from magic_core.training.config import ConfigError, TrainConfig
from magic_core.training.dataset import SampleSource, scan_dataset
from magic_core.training.media import BadSampleError
from magic_core.training.models import load_base_models
from magic_core.training.pretrain import new_small_base
from magic_core.training.tiny_base import TINY_CLIP, TINY_UNET, architecture_path, save_described_checkpoint
from magic_core.training.trainer import Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _captioned_copy(dataset, tmp_path):
    root = tmp_path / "captioned"
    shutil.copytree(dataset, root)
    videos = sorted(p for p in (root / "videos").iterdir() if p.is_dir())
    (root / "videos" / f"{videos[0].name}.txt").write_text("a person walking\n")
    images = sorted((root / "images").iterdir())
    (root / "captions.json").write_text(json.dumps({f"images/{images[0].stem}": "a still person"}))
    return root, videos, images


def test_captions_beside_items_or_in_one_file_and_check_data_lists_the_rest(synthetic_dataset, tmp_path):
    root, videos, images = _captioned_copy(synthetic_dataset, tmp_path)
    entries, bad = scan_dataset(root)
    captions = {e.name: e.caption for e in entries}
    assert not bad and captions[videos[0].name] == "a person walking" and captions[images[0].stem] == "a still person"
    assert sorted(uncaptioned(root)) == sorted([f"videos/{v.name}" for v in videos[1:]] +
                                               [f"images/{i.stem}" for i in images[1:]])
    source = SampleSource(tiny_config(tmp_path, root, stage=1), entries)
    assert source._load(next(e for e in entries if e.name == images[0].stem), "image", 1).caption == "a still person"
    (root / "captions.json").write_text("[1, 2]")
    with pytest.raises(BadSampleError, match="captions.json"):
        scan_dataset(root)


def test_caption_dropout_and_per_sample_text(synthetic_dataset, tmp_path):
    from harness.tiny_models import tiny_clip

    root, videos, _ = _captioned_copy(synthetic_dataset, tmp_path)
    base = tiny_base()
    base.clip = tiny_clip(1)
    trainer = Trainer(tiny_config(tmp_path, root, stage=1, caption_drop_prob=0.5), base)
    entry = next(e for e in trainer.source.entries if e.name == videos[0].name)
    sample = trainer.source._load(entry, "frame", 1)
    plain = trainer.source._load(next(e for e in trainer.source.entries if e.caption is None and e.is_video),
                                 "frame", 1)
    caption, empty = base.caption_embedding("a person walking"), base.caption_embedding("")
    contexts = [trainer.batch_context([sample, plain]) for _ in range(40)]
    first = [c[0] for c in contexts]
    dropped = sum(torch.equal(c, empty[0]) for c in first)
    kept = sum(torch.equal(c, caption[0]) for c in first)
    assert dropped + kept == 40 and 8 <= dropped <= 32, (dropped, kept)
    assert all(torch.equal(c[1], base.context[0]) for c in contexts)  # no caption: the prompt setting
    assert not torch.equal(caption, empty)
    result = trainer.run()
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    with pytest.raises(ConfigError, match="caption_drop_prob"):
        TrainConfig(caption_drop_prob=1.5).validate()


def test_block_figures_and_the_exact_cell_vae():
    split = fs.make_split()
    assert len(split.train_people) == 24 and len(split.stills) == 48 and len(split.held_out_people) == 6
    training_poses = {p for poses in split.videos for p in poses} | {p for _, p in split.stills}
    assert not training_poses & set(split.held_out_poses)
    assert not set(split.train_people) & set(split.held_out_people)
    assert len(fg.ALL_POSES) == 60
    images = torch.cat([fg.render(p, split.held_out_people[0]) for p in split.held_out_poses])
    assert torch.equal(fg.figure_mask(images), torch.cat([fg.silhouette(p) for p in split.held_out_poses]))
    vae = cell_vae()
    latents = vae.encode(images)
    assert latents.shape == (6, 4, 16, 16)
    assert (vae.decode(latents) - images).abs().max() < 1e-5
    # the fast path computes what the TAESD weights it saves compute
    import comfy.sd

    slow = comfy.sd.VAE(sd=cell_vae_state_dict())
    noisy = latents + torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))
    assert (slow.encode(images) - latents).abs().max() < 1e-4
    assert (slow.decode(noisy).float() - vae.decode(noisy)).abs().max() < 1e-4


def test_small_base_in_one_file_loads_with_its_architecture_beside_it(tmp_path):
    vae = cell_vae()
    patcher, clip = new_small_base(vae, 3)
    path = save_described_checkpoint(tmp_path / "base.safetensors", patcher, clip, vae, TINY_UNET, TINY_CLIP)
    models_before = list(comfy.supported_models.models)
    base = load_base_models(TrainConfig(base_checkpoint=str(path)))
    assert comfy.supported_models.models == models_before  # nothing registered in ComfyUI
    ours, theirs = patcher.model.diffusion_model.state_dict(), base.model.model.diffusion_model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert type(base.vae).__name__ == "CellVAE" and base.context.shape == (1, 77, 32)
    assert torch.equal(base.context, base.caption_embedding(None))
    architecture_path(path).write_text("{not json")
    with pytest.raises(MagicAnimateError, match="base.json"):
        load_base_models(TrainConfig(base_checkpoint=str(path)))
    architecture_path(path).write_text(json.dumps({"magicanimate_base": 1, "unet": dict(TINY_UNET, model_channels=64),
                                                   "clip": TINY_CLIP}))
    with pytest.raises(Exception, match="base.safetensors"):
        load_base_models(TrainConfig(base_checkpoint=str(path)))
    with pytest.raises(ConfigError, match="does not exist"):
        load_base_models(TrainConfig(base_checkpoint=str(tmp_path / "missing.safetensors")))


def test_validation_and_previews_beside_the_log(tmp_path):
    from magic_core.training.synthetic_base import make_figure_dataset

    written = make_figure_dataset(tmp_path / "figures")
    assert set(written) == {"data_root", "validation_root"}
    config = tiny_config(tmp_path, written["data_root"], stage=1, width=128, height=128, max_steps=2,
                         validate_every=1, validation_root=str(written["validation_root"]))
    from harness.tiny_models import tiny_clip

    base = tiny_base()
    base.vae, base.clip = cell_vae(), tiny_clip(1)
    trainer = Trainer(config, base)
    trainer.validation = _first_items(trainer.validation, 4)
    trainer.run()
    rows = (tmp_path / "run" / "validation.csv").read_text().splitlines()
    assert rows[0] == "step,E,E_pose,E_ref" and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    e, e_pose = (float(v) for v in rows[1].split(",")[1:3])
    assert e_pose == pytest.approx(e, abs=1e-6)  # the zero convolutions: the pose does not matter yet
    from PIL import Image

    grid = Image.open(tmp_path / "run" / "previews" / "step_000002.png")
    assert grid.size == (4 * 128, 4 * 128)
    with pytest.raises(ConfigError, match="validation_root"):
        TrainConfig(validate_every=5).validate()


def _first_items(data, k):
    import dataclasses

    return dataclasses.replace(data, references=data.references[:k], densepose=data.densepose[:k],
                               targets=data.targets[:k], masks=data.masks[:k],
                               other_pose=[(i + 1) % k for i in range(k)],
                               other_reference=[(i + 1) % k for i in range(k)])


@pytest.mark.slow
def test_command_line_runs_from_the_synthetic_base_without_a_download(tmp_path, capsys):
    from magic_core.training.__main__ import main

    folder = tmp_path / "figures"
    assert main(["make-synthetic", str(folder), "--figures", "--base", "--base-steps", "2"]) == 0
    base = folder / "base" / "magicanimate_synthetic_base.safetensors"
    assert base.is_file() and not architecture_path(base).is_file()  # an SD1.5-layout file ComfyUI detects
    assert main(["check-data", str(folder / "train")]) == 0
    assert "0 item(s) without a caption" in capsys.readouterr().out
    common = ["--set", f"base_checkpoint={base}", "--set", "width=128", "--set", "height=128", "--set", "max_steps=1",
              "--set", "progress_bar=false", "--set", f"data_root={folder / 'train'}"]
    assert main(["stage1", *common, "--set", f"output_dir={tmp_path / 's1'}"]) == 0
    exports, weights = tmp_path / "s1" / "MagicAnimate", "diffusion_pytorch_model.safetensors"
    assert main(["stage2", *common, "--set", "clip_frames=4", "--set", f"output_dir={tmp_path / 's2'}",
                 "--set", f"appearance_encoder={exports / 'appearance_encoder' / weights}",
                 "--set", f"densepose_controlnet={exports / 'densepose_controlnet' / weights}"]) == 0
    assert (tmp_path / "s2" / "MagicAnimate" / "temporal_attention" / "temporal_attention.safetensors").is_file()

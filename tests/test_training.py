"""Training runs on the tiny models: both stages train what they should and nothing else, the loss falls on a
fixed batch, resume equals an uninterrupted run, bad data is skipped or stops a run, the command line trains
both stages, and the exports load through the pack's loader nodes and change the sampler's output."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from harness.paths import REPO
from harness.tiny_models import tiny_taesd_vae
from harness.tiny_training import damaged_copy, tiny_base, tiny_config, tiny_trainable_sd15

from magic_core.training.media import BadSampleError, read_image
from magic_core.training.step import diffusion_loss
from magic_core.training.trainer import Trainer

WEIGHTS = "diffusion_pytorch_model.safetensors"
OVERFIT_LR = 3e-3
OVERFIT_STEPS = 20


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _snapshot(modules: dict) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.detach().clone() for n, m in modules.items() for k, v in m.state_dict().items()}


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("stage", [1, 2])
def test_stage_trains_only_its_parts(stage, synthetic_dataset, tmp_path):
    trainer = Trainer(tiny_config(tmp_path, synthetic_dataset, stage=stage, max_steps=3, gradient_accumulation=2),
                      tiny_base())
    frozen, trainable = _snapshot(trainer.models.frozen), _snapshot(trainer.models.trainable)
    assert set(trainer.models.trainable) == ({"appearance_encoder", "controlnet"} if stage == 1 else {"temporal"})
    result = trainer.run()
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    assert not _changed(frozen, _snapshot(trainer.models.frozen)), "frozen weights changed"
    changed = _changed(trainable, _snapshot(trainer.models.trainable))
    for part in trainer.models.trainable:
        assert any(k.startswith(part + ".") for k in changed), f"{part} did not train"
    if stage == 1:
        assert any(".zero_convs." in k for k in changed), "the ControlNet's zero convolutions did not train"
    else:
        assert any("proj_out" in k for k in changed) and any("to_q" in k for k in changed)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss") and len(log) == 4


@pytest.mark.parametrize("stage,kind", [(1, "frame"), (2, "clip")])
def test_loss_falls_on_a_fixed_batch(stage, kind, synthetic_dataset, tmp_path):
    trainer = Trainer(tiny_config(tmp_path, synthetic_dataset, stage=stage, learning_rate=OVERFIT_LR), tiny_base())
    batch = trainer.encode([trainer.source.draw(kind), trainer.source.draw(kind)])
    losses = []
    with trainer._models_on_device():
        for _ in range(OVERFIT_STEPS):
            # the same noise and timesteps every step: a fixed batch to overfit
            loss = diffusion_loss(trainer.models, batch, trainer.base.context, torch.Generator().manual_seed(3))
            loss.backward()
            trainer.optimizer.step()
            trainer.optimizer.zero_grad()
            losses.append(float(loss.detach()))
    print(f"stage {stage} overfit loss {losses[0]:.4f} -> {losses[-1]:.4f} in {OVERFIT_STEPS} steps")
    assert losses[-1] < 0.6 * losses[0], losses
    assert max(losses[-5:]) < 0.8 * losses[0], losses


@pytest.mark.parametrize("stage", [1, 2])
def test_resume_equals_an_uninterrupted_run(stage, synthetic_dataset, tmp_path):
    steps = 2  # N uninterrupted vs N/2 + resume N/2 (the restored Adam moments and RNGs drive step 2)
    settings = dict(stage=stage, max_steps=steps, reference_drop_prob=0.5, tau1=0.3, tau2=0.6)
    whole = Trainer(tiny_config(tmp_path / "whole", synthetic_dataset, **settings), tiny_base())
    whole_result = whole.run()
    half = dict(settings, max_steps=steps // 2)
    first = Trainer(tiny_config(tmp_path / "parts", synthetic_dataset, **half), tiny_base())
    first_result = first.run()
    second = Trainer(tiny_config(tmp_path / "parts", synthetic_dataset, **settings), tiny_base())
    second_result = second.run(resume=True)
    assert second_result.steps == steps and len(second_result.losses) == steps // 2
    assert first_result.losses + second_result.losses == whole_result.losses
    weights, resumed = _snapshot(whole.models.trainable), _snapshot(second.models.trainable)
    assert not _changed(weights, resumed), "resumed weights differ from the uninterrupted run's"
    assert len((tmp_path / "parts" / "run" / "log.csv").read_text().splitlines()) == steps + 1
    # without resume (the CLI's --no-resume) the run starts over at step 0 in the same folder
    again = Trainer(tiny_config(tmp_path / "parts", synthetic_dataset, **dict(settings, max_steps=1)), tiny_base())
    assert again.run(resume=False).losses == whole_result.losses[:1]


def _mostly_bad_copy(dataset: Path, tmp_path: Path) -> tuple[Path, set[str]]:
    """A copy where all but one image are unreadable and all but one video's DensePose are a frame short."""
    root = tmp_path / "mostly_bad"
    shutil.copytree(dataset, root)
    bad = set()
    for image in sorted((root / "images").iterdir())[:-1]:
        image.write_bytes(b"not an image")
        bad.add(str(image))
    for poses in sorted((root / "videos_densepose").iterdir())[:-1]:
        sorted(poses.iterdir())[-1].unlink()
        bad.add(str(poses))
    return root, bad


def test_bad_data_skipped_or_stops_a_run(synthetic_dataset, tmp_path):
    root, bad = _mostly_bad_copy(synthetic_dataset, tmp_path)
    settings = dict(stage=1, max_steps=2, gradient_accumulation=2, batch_size=3, tau0=0.5, seed=2)
    result = Trainer(tiny_config(tmp_path / "skip", root, **settings), tiny_base()).run()
    reported = {message.split("'")[1] for message in result.bad_data}
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    assert reported <= bad and any("images" in r for r in reported) and any("videos" in r for r in reported), \
        result.bad_data
    assert any("7 frames" in m for m in result.bad_data) and any("unreadable" in m for m in result.bad_data)
    with pytest.raises(BadSampleError) as info:
        Trainer(tiny_config(tmp_path / "stop", root, on_bad_sample="stop", **settings), tiny_base()).run()
    assert info.value.path in bad and Path(info.value.path).name in str(info.value)


def test_command_line_checks_data_in_a_fresh_process(synthetic_dataset, tmp_path):
    root, short_video, broken_image = damaged_copy(synthetic_dataset, tmp_path)
    run = subprocess.run([sys.executable, "-m", "magic_core.training", "check-data", str(root)], capture_output=True,
                         text=True, timeout=120, cwd=REPO)
    assert run.returncode == 1, run.stderr[-2000:]
    assert str(short_video) in run.stdout and str(broken_image) in run.stdout and "2 bad item(s)" in run.stdout


@pytest.mark.slow
def test_command_line_trains_both_stages(synthetic_dataset, tiny_checkpoint, tmp_path, capsys):
    from magic_core.training.__main__ import main

    assert main(["check-data", str(synthetic_dataset)]) == 0
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"data_root": str(synthetic_dataset), "base_checkpoint": str(tiny_checkpoint),
                                      "width": 64, "height": 64, "clip_frames": 3, "max_steps": 2,
                                      "learning_rate": 1e-3, "mixed_precision": "no", "progress_bar": False}))
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    assert main(["stage1", "--config", str(config), "--set", f"output_dir={stage1}"]) == 0
    exports = stage1 / "MagicAnimate"
    assert main(["stage2", "--config", str(config), "--set", f"output_dir={stage2}",
                 "--set", f"appearance_encoder={exports / 'appearance_encoder' / WEIGHTS}",
                 "--set", f"densepose_controlnet={exports / 'densepose_controlnet' / WEIGHTS}"]) == 0
    for part in ("appearance_encoder/config.json", "densepose_controlnet/config.json",
                 f"appearance_encoder/{WEIGHTS}", f"densepose_controlnet/{WEIGHTS}"):
        assert (exports / part).is_file(), part
    assert (stage2 / "MagicAnimate" / "temporal_attention" / "temporal_attention.safetensors").is_file()
    used = yaml.safe_load((stage2 / "config.yaml").read_text())
    assert used["stage"] == 2 and used["max_steps"] == 2 and used["appearance_encoder"].endswith(".safetensors")
    # the same command with more steps resumes from the checkpoint instead of starting over
    assert main(["stage1", "--config", str(config), "--set", f"output_dir={stage1}", "--set", "max_steps=3"]) == 0
    out = capsys.readouterr().out
    assert out.count("2 steps; last loss") == 2 and "3 steps; last loss" in out
    assert len((stage1 / "log.csv").read_text().splitlines()) == 4


# --- exports through the pack's loader nodes and the fusion sampler -------------------------------------------
FRAMES = 4


def _train_both_stages(data: Path, tmp_path: Path) -> tuple[Trainer, Trainer]:
    one = Trainer(tiny_config(tmp_path / "s1", data, stage=1, max_steps=3), tiny_base())
    one.run()
    exports = tmp_path / "s1" / "run" / "MagicAnimate"
    two = Trainer(tiny_config(tmp_path / "s2", data, stage=2, max_steps=3, tau1=0.0, tau2=0.0,
                              appearance_encoder=str(exports / "appearance_encoder" / WEIGHTS),
                              densepose_controlnet=str(exports / "densepose_controlnet" / WEIGHTS)),
                  tiny_base())
    two.run()
    return one, two


@pytest.fixture
def magicanimate_models(tmp_path):
    """A temporary extra ``magicanimate`` model folder (removed again afterwards)."""
    import folder_paths

    from magic_core.model_paths import MODEL_FOLDER

    folder = tmp_path / "models"
    folder.mkdir()
    paths = folder_paths.folder_names_and_paths[MODEL_FOLDER][0]
    paths.append(str(folder))
    folder_paths.filename_list_cache.pop(MODEL_FOLDER, None)
    yield folder
    paths.remove(str(folder))
    folder_paths.filename_list_cache.pop(MODEL_FOLDER, None)


def _equal_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].float().cpu(), b[k].float().cpu()) for k in a)


@pytest.mark.slow
def test_exports_load_through_the_loader_nodes_and_change_the_sampler(comfy_host, synthetic_dataset, tmp_path,
                                                                      magicanimate_models, fusion_conds):
    from magic_core.motion import render_synthetic_motion

    nodes = comfy_host.NODE_CLASS_MAPPINGS
    one, two = _train_both_stages(synthetic_dataset, tmp_path)
    mine = magicanimate_models / "MagicAnimate-mine"
    shutil.copytree(tmp_path / "s1" / "run" / "MagicAnimate", mine)
    shutil.copytree(tmp_path / "s2" / "run" / "MagicAnimate" / "temporal_attention", mine / "temporal_attention")
    shutil.copytree(tmp_path / "s1" / "run" / "init" / "appearance_encoder", magicanimate_models / "init")

    def load(node: str, name: str):
        return nodes[node].execute(name).result[0]

    encoder = load("MagicAnimateAppearanceEncoderLoader",
                   "MagicAnimate-mine/appearance_encoder/diffusion_pytorch_model.safetensors")
    initial_encoder = load("MagicAnimateAppearanceEncoderLoader", "init/diffusion_pytorch_model.safetensors")
    controlnet = load("MagicAnimateDensePoseControlNetLoader",
                      "MagicAnimate-mine/densepose_controlnet/diffusion_pytorch_model.safetensors")
    temporal = load("MagicAnimateTemporalAttentionLoader",
                    "MagicAnimate-mine/temporal_attention/temporal_attention.safetensors")
    assert _equal_states(encoder.unet.state_dict(), one.models.encoder.unet.state_dict())
    assert _equal_states(controlnet.control_model.state_dict(), one.models.controlnet.state_dict())
    assert _equal_states(temporal.state_dict, two.models.temporal.state_dict())

    vae = tiny_taesd_vae(2)
    reference = read_image(sorted((synthetic_dataset / "images").iterdir())[0])
    densepose = render_synthetic_motion(64, 64, FRAMES, "walk", 0)
    sampler_args = {"seed": 1, "steps": 3, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
                    "denoise": 1.0, "context_frames": 16, "context_overlap": 4, "context_stride": 1,
                    "closed_loop": True, "schedule": "uniform", "fuse_method": "flat",
                    "beta_schedule": "sqrt_linear (MagicAnimate)"}

    def sample(appearance=encoder, control=controlnet, motion=temporal) -> torch.Tensor:
        model = tiny_trainable_sd15(0)
        if motion is not None:
            model = nodes["MagicAnimateApplyTemporalAttention"].execute(model, motion, 1.0, True).result[0]
        model = nodes["MagicAnimateApplyAppearanceEncoder"].execute(model, appearance, vae, reference, 1.0, "midup",
                                                                   0.0, 1.0).result[0]
        positive, negative = fusion_conds
        if control is not None:
            positive, negative = nodes["MagicAnimateApplyDensePose"].execute(positive, negative, control, densepose,
                                                                            1.0, 0.0, 1.0).result
        latent = {"samples": torch.zeros(FRAMES, 4, 8, 8)}
        return nodes["MagicAnimateFusionSampler"].execute(model, positive, negative, latent,
                                                          **sampler_args).result[0]["samples"]

    trained = sample()
    assert torch.isfinite(trained).all()
    # an untrained ControlNet (zero convolutions) or temporal module (zero proj_out) would change nothing
    for label, other in (("DensePose ControlNet", sample(control=None)), ("temporal modules", sample(motion=None)),
                         ("appearance encoder", sample(appearance=initial_encoder))):
        difference = float((trained - other).abs().max())
        print(f"sampler output, trained vs without trained {label}: max |diff| {difference:.2e}")
        assert difference > 1e-4, f"the trained {label} does not change the sampler's output"

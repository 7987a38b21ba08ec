"""Training data: layout scanning, aligned samples, tau proportions, bad data reported by file name, config."""
from __future__ import annotations

import shutil

import pytest
import torch
from harness.paths import REPO
from harness.tiny_training import TRAIN_SIZE, damaged_copy, tiny_config

from magic_core.motion import DENSEPOSE_BACKGROUND
from magic_core.training.check import check_dataset
from magic_core.training.config import ConfigError, TrainConfig, load_config
from magic_core.training.dataset import SampleSource, scan_dataset
from magic_core.training.media import BadSampleError, count_frames, read_frames
from magic_core.training.synthetic import make_synthetic_dataset

DEFAULT_YAML = REPO / "magic_core" / "training" / "default_config.yaml"


def _figure_masks(sample) -> tuple[torch.Tensor, torch.Tensor]:
    background = torch.tensor(DENSEPOSE_BACKGROUND) / 255.0
    pose_mask = (sample.densepose - background).abs().amax(-1) > 1e-3
    wall = sample.frames[:, :, :1, :]  # the left column is wall (shaded per row) in every synthetic frame
    frame_mask = (sample.frames - wall).abs().amax(-1) > 0.02
    return pose_mask, frame_mask


def test_scan_and_samples_are_aligned(synthetic_dataset, tmp_path):
    entries, bad = scan_dataset(synthetic_dataset)
    assert not bad
    assert sorted(e.is_video for e in entries) == [False] * 3 + [True] * 3
    source = SampleSource(tiny_config(tmp_path, synthetic_dataset, stage=2, clip_frames=4), entries)
    for kind, frames in (("image", 1), ("frame", 1), ("clip", 4)):
        sample = source.draw(kind)
        assert sample.kind == kind
        assert sample.reference.shape == (1, TRAIN_SIZE, TRAIN_SIZE, 3)
        assert sample.frames.shape == sample.densepose.shape == (frames, TRAIN_SIZE, TRAIN_SIZE, 3)
        pose_mask, frame_mask = _figure_masks(sample)
        # the person and its DensePose cover the same pixels, frame for frame (mostly: shading at edges)
        agreement = (pose_mask == frame_mask).float().mean(dim=(1, 2))
        assert bool((agreement > 0.97).all()), agreement
    if frames > 1:
        assert not torch.equal(pose_mask[0], pose_mask[-1]), "a clip's frames should show motion"


@pytest.mark.parametrize("stage,taus,expected", [
    (1, {"tau0": 0.3}, {"image": 0.3, "frame": 0.7, "clip": 0.0}),
    (2, {"tau1": 0.2, "tau2": 0.5}, {"image": 0.2, "frame": 0.3, "clip": 0.5}),
])
def test_tau_proportions(synthetic_dataset, tmp_path, stage, taus, expected):
    entries, _ = scan_dataset(synthetic_dataset)
    source = SampleSource(tiny_config(tmp_path, synthetic_dataset, stage=stage, seed=5, **taus), entries)
    draws = 4000
    counts = {"image": 0, "frame": 0, "clip": 0}
    for _ in range(draws):
        counts[source.draw_kind()] += 1
    for kind, share in expected.items():
        assert abs(counts[kind] / draws - share) < 0.03, (kind, counts)


def test_bad_data_skipped_with_file_names(synthetic_dataset, tmp_path):
    root, short_video, broken_image = damaged_copy(synthetic_dataset, tmp_path)
    entries, _ = scan_dataset(root)
    source = SampleSource(tiny_config(tmp_path, root, stage=1, on_bad_sample="skip", seed=1), entries)
    frame_sources = {source.draw("frame").source.split("@")[0] for _ in range(30)}
    image_sources = {source.draw("image").source for _ in range(30)}
    reported = " ".join(str(e) for e in source.reported)
    assert short_video.name in reported and "frames" in reported
    assert broken_image.name in reported
    assert not any(short_video.name in s for s in frame_sources), "trained on a video with mismatched DensePose"
    assert str(broken_image) not in image_sources
    problems = " ".join(check_dataset(root))
    assert str(short_video) in problems and str(broken_image) in problems


def test_bad_data_stops_when_configured(synthetic_dataset, tmp_path):
    root, short_video, broken_image = damaged_copy(synthetic_dataset, tmp_path)
    entries, _ = scan_dataset(root)
    source = SampleSource(tiny_config(tmp_path, root, stage=1, on_bad_sample="stop"), entries)
    with pytest.raises(BadSampleError) as info:
        for _ in range(50):
            source.draw("image")
    assert broken_image.name in str(info.value)
    entry = next(e for e in entries if e.is_video and e.name == short_video.name)
    with pytest.raises(BadSampleError, match=short_video.name):
        source.video_frames(entry)


def test_missing_densepose_is_reported(synthetic_dataset, tmp_path):
    root = tmp_path / "missing"
    shutil.copytree(synthetic_dataset, root)
    lonely = sorted((root / "images_densepose").iterdir())[0]
    lonely.unlink()
    entries, bad = scan_dataset(root)
    assert len(bad) == 1 and lonely.stem in str(bad[0])
    with pytest.raises(BadSampleError, match=lonely.stem):
        SampleSource(tiny_config(tmp_path, root, on_bad_sample="stop"), entries, bad)


def test_video_files_read_with_pyav(tmp_path):
    root = make_synthetic_dataset(tmp_path / "mp4", videos=1, images=0, frames=5, width=64, height=64,
                                  video_files=True)
    video = next((root / "videos").iterdir())
    assert video.suffix == ".mp4" and count_frames(video) == 5
    frames = read_frames(video, [4, 0, 4])
    assert frames.shape == (3, 64, 64, 3)
    assert torch.equal(frames[0], frames[2]) and not torch.equal(frames[0], frames[1])
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(BadSampleError, match="broken.mp4"):
        count_frames(tmp_path / "broken.mp4")


def test_default_yaml_lists_every_setting_with_the_defaults(tmp_path):
    assert load_config(DEFAULT_YAML) == TrainConfig()
    text = DEFAULT_YAML.read_text()
    assert all(f"\n{name}:" in "\n" + text for name in TrainConfig().to_dict())
    with pytest.raises(ConfigError, match="lerning_rate"):
        load_config(None, {"lerning_rate": 1})
    with pytest.raises(ConfigError, match="tau1"):
        TrainConfig(tau1=0.6, tau2=0.5).validate()

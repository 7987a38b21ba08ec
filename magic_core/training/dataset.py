"""The training data set: a folder of videos and still images, each with its DensePose, and sample drawing.

Folder layout (matched by name; see README.md):
``videos/<name>/`` (frame images) or ``videos/<name>.mp4`` with ``videos_densepose/<name>/`` or
``videos_densepose/<name>.mp4``; ``images/<name>.png`` with ``images_densepose/<name>.png``.
Samples (:func:`sample_kind` picks one with the stage's thresholds):
``image`` (reference = target = a still image), ``frame`` (reference and target: two frames of one video),
``clip`` (``clip_frames`` consecutive frames of one video and a reference frame from the same video).
Captions (image-text training): ``videos/<name>.txt`` / ``images/<name>.txt`` beside an item, or one
``captions.json``; an item without one is trained with the ``prompt`` setting.
A video and its DensePose must have the same number of frames; anything else is bad data, reported with the
file's name and skipped or fatal as configured (never trained on).
"""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ..motion import fit_frames
from .config import TrainConfig
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, BadSampleError, count_frames, read_frames, read_image

log = logging.getLogger(__name__)
CAPTIONS_FILE = "captions.json"


@dataclass(frozen=True)
class Entry:
    """One video or image of the data set and its DensePose (a folder or a file each)."""

    name: str
    is_video: bool
    media: Path
    densepose: Path
    caption: str | None = None


@dataclass
class TrainingSample:
    """One sample: reference ``[1, H, W, 3]``, target frames and their DensePose ``[F, H, W, 3]`` (0..1)."""

    kind: str
    source: str
    reference: torch.Tensor
    frames: torch.Tensor
    densepose: torch.Tensor
    caption: str | None = None


def _media_in(folder: Path, videos: bool) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if videos and path.is_dir():
            found[path.name] = path
        elif path.is_file() and path.suffix.lower() in (VIDEO_EXTENSIONS if videos else IMAGE_EXTENSIONS):
            found[path.stem] = path
    return found


def read_captions(root: Path) -> dict[str, str]:
    """``captions.json`` of a data set (``{"videos/<name>": text, "images/<name>": text}``), or ``{}``."""
    path = root / CAPTIONS_FILE
    if not path.is_file():
        return {}
    try:
        captions = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadSampleError(path, f"unreadable captions file: {exc}") from exc
    if not isinstance(captions, dict) or not all(isinstance(v, str) for v in captions.values()):
        raise BadSampleError(path, 'expected a JSON object {"videos/<name>": "caption", "images/<name>": ...}')
    return captions


def entry_caption(media_dir: Path, name: str, captions: dict[str, str]) -> str | None:
    """The caption of an item: ``<media_dir>/<name>.txt`` beside it, else ``captions.json``, else ``None``."""
    beside = media_dir / f"{name}.txt"
    if beside.is_file():
        try:
            return beside.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadSampleError(beside, f"unreadable caption: {exc}") from exc
    return captions.get(f"{media_dir.name}/{name}")


def scan_dataset(root: str | Path) -> tuple[list[Entry], list[BadSampleError]]:
    """Entries of the data set at ``root`` and the items without a DensePose counterpart (bad data)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"training data folder '{root}' does not exist; make one with "
                                f"`python -m magic_core.training make-synthetic {root}` "
                                "(see magic_core/training/README.md)")
    entries: list[Entry] = []
    bad: list[BadSampleError] = []
    captions = read_captions(root)
    for is_video, media_dir, pose_dir in ((True, "videos", "videos_densepose"), (False, "images", "images_densepose")):
        media, poses = _media_in(root / media_dir, is_video), _media_in(root / pose_dir, is_video)
        for name, path in media.items():
            if name in poses:
                try:
                    caption = entry_caption(root / media_dir, name, captions)
                except BadSampleError as error:
                    bad.append(error)
                    continue
                entries.append(Entry(name, is_video, path, poses[name], caption))
            else:
                bad.append(BadSampleError(path, f"no DensePose for it in {root / pose_dir} (expected a file or folder "
                                                f"named '{name}')"))
    if not entries:
        raise FileNotFoundError(f"training data folder '{root}' holds no usable video or image with its DensePose "
                                f"(videos/ + videos_densepose/, images/ + images_densepose/); see the training README")
    return entries, bad


def sample_kind(stage: int, r: float, config: TrainConfig, has_images: bool, has_videos: bool) -> str:
    """The kind of sample for a uniform draw ``r`` in [0, 1).

    Stage 1: ``r < tau0`` -> image, else a single video frame.  Stage 2: ``r < tau1`` -> image,
    ``tau1 <= r < tau2`` -> single video frame, else a video clip.  Without images, image draws become frame
    draws; without videos every draw is an image.
    """
    if not has_videos:
        return "image"
    if stage == 1:
        kind = "image" if r < config.tau0 else "frame"
    else:
        kind = "image" if r < config.tau1 else ("frame" if r < config.tau2 else "clip")
    return "frame" if kind == "image" and not has_images else kind


def checked_video_frames(entry: Entry) -> int:
    """Frame count of a video entry; its DensePose must have as many frames (else :class:`BadSampleError`)."""
    frames, poses = count_frames(entry.media), count_frames(entry.densepose)
    if frames == 0:
        raise BadSampleError(entry.media, "the video has no frames")
    if poses != frames:
        raise BadSampleError(entry.densepose, f"the DensePose has {poses} frames but its video '{entry.media.name}' "
                                              f"has {frames}; they must match frame for frame")
    return frames


class SampleSource:
    """Draws training samples from a scanned data set with a seeded ``random.Random`` (its state is resumable)."""

    def __init__(self, config: TrainConfig, entries: list[Entry], bad: list[BadSampleError] | None = None):
        self.config = config
        self.entries = list(entries)
        self.rng = random.Random(config.seed)
        self.frame_counts: dict[str, int] = {}
        self.excluded: set[str] = set()
        self.reported: list[BadSampleError] = []
        for error in bad or []:
            self._bad(error)

    # --- bad data ----------------------------------------------------------------------------------------
    def _bad(self, error: BadSampleError, entry: Entry | None = None) -> None:
        self.reported.append(error)
        if self.config.on_bad_sample == "stop":
            raise error
        log.warning("MagicAnimate training: skipping %s", error)
        if entry is not None:
            self.excluded.add(entry.name + (":video" if entry.is_video else ":image"))

    def _usable(self, videos: bool, min_frames: int = 1) -> list[Entry]:
        out = []
        for e in self.entries:
            if e.is_video != videos or (e.name + (":video" if videos else ":image")) in self.excluded:
                continue
            if videos and e.name in self.frame_counts and self.frame_counts[e.name] < min_frames:
                continue
            out.append(e)
        return out

    def video_frames(self, entry: Entry) -> int:
        """Frame count of a video entry, checked against its DensePose (cached)."""
        if entry.name not in self.frame_counts:
            self.frame_counts[entry.name] = checked_video_frames(entry)
        return self.frame_counts[entry.name]

    # --- drawing -----------------------------------------------------------------------------------------
    def draw_kind(self) -> str:
        return sample_kind(self.config.stage, self.rng.random(), self.config, bool(self._usable(False)),
                           bool(self._usable(True)))

    def draw(self, kind: str) -> TrainingSample:
        """One sample of ``kind``; bad items are reported and skipped (or raise, as configured)."""
        while True:
            videos = kind != "image"
            span = (self.config.clip_frames - 1) * self.config.frame_stride + 1 if kind == "clip" else 1
            candidates = self._usable(videos, span)
            if not candidates:
                raise RuntimeError(f"MagicAnimate training: no usable {'video' if videos else 'image'} left for a "
                                   f"'{kind}' sample (videos need at least {span} frames for a clip); "
                                   f"{len(self.reported)} items were reported as bad data")
            entry = candidates[self.rng.randrange(len(candidates))]
            try:
                return self._load(entry, kind, span)
            except BadSampleError as error:
                self._bad(error, entry)

    def _load(self, entry: Entry, kind: str, span: int) -> TrainingSample:
        if kind == "image":
            image = read_image(entry.media)
            pose = read_image(entry.densepose)
            if image.shape[1:3] != pose.shape[1:3]:
                raise BadSampleError(entry.densepose, f"DensePose is {pose.shape[2]}x{pose.shape[1]} but the image "
                                                      f"'{entry.media.name}' is {image.shape[2]}x{image.shape[1]}")
            return self._fit(kind, str(entry.media), image, image, pose, entry.caption)
        total = self.video_frames(entry)
        if total < span:
            self.frame_counts[entry.name] = total  # excluded from clip draws by _usable
            raise BadSampleError(entry.media, f"{total} frames, a clip of {self.config.clip_frames} frames "
                                              f"(stride {self.config.frame_stride}) needs {span}")
        start = self.rng.randrange(total - span + 1)
        targets = list(range(start, start + span, self.config.frame_stride))
        ref_index = self.rng.randrange(total)
        frames = read_frames(entry.media, [ref_index] + targets)
        poses = read_frames(entry.densepose, targets)
        if frames.shape[1:3] != poses.shape[1:3]:
            raise BadSampleError(entry.densepose, f"DensePose frames are {poses.shape[2]}x{poses.shape[1]} but the "
                                                  f"video '{entry.media.name}' is {frames.shape[2]}x{frames.shape[1]}")
        return self._fit(kind, f"{entry.media}@{targets[0]}", frames[:1], frames[1:], poses, entry.caption)

    def _fit(self, kind: str, source: str, reference: torch.Tensor, frames: torch.Tensor,
             poses: torch.Tensor, caption: str | None) -> TrainingSample:
        w, h = self.config.width, self.config.height
        return TrainingSample(kind, source, fit_frames(reference, w, h, "crop"), fit_frames(frames, w, h, "crop"),
                              fit_frames(poses, w, h, "crop"), caption)

    def draw_batch(self) -> list[TrainingSample]:
        """``batch_size`` samples of one kind (a batch is all images, all single frames or all clips)."""
        kind = self.draw_kind()
        return [self.draw(kind) for _ in range(self.config.batch_size)]

    # --- resumable state ---------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"rng": self.rng.getstate(), "excluded": sorted(self.excluded)}

    def load_state(self, state: dict) -> None:
        self.rng.setstate(_as_tuple(state["rng"]))
        self.excluded = set(state["excluded"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value

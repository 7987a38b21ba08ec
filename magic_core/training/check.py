"""Checking a whole data set up front: every item read once, every problem listed with its file name."""
from __future__ import annotations

from pathlib import Path

from .dataset import checked_video_frames, scan_dataset
from .media import BadSampleError, read_image


def uncaptioned(root: str | Path) -> list[str]:
    """Names (``videos/<name>``, ``images/<name>``) of the items without a caption."""
    entries, _ = scan_dataset(root)
    return [f"{'videos' if e.is_video else 'images'}/{e.name}" for e in entries if e.caption is None]


def check_dataset(root: str | Path) -> list[str]:
    """Messages of every bad item (missing DensePose, unreadable file, frame count or size mismatch)."""
    entries, bad = scan_dataset(root)
    problems = [str(e) for e in bad]
    for entry in entries:
        try:
            if entry.is_video:
                checked_video_frames(entry)
            else:
                image, pose = read_image(entry.media), read_image(entry.densepose)
                if image.shape != pose.shape:
                    raise BadSampleError(entry.densepose, f"DensePose size {tuple(pose.shape[1:3])} differs from "
                                                          f"the image's {tuple(image.shape[1:3])}")
        except BadSampleError as error:
            problems.append(str(error))
    return problems

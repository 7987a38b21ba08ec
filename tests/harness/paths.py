"""Where things are: the clone, the data beside it (``../shared``), and how a test file is linked into a folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
WORKFLOWS = REPO / "workflows"
SHARED = REPO.parent / "shared"
OFFICIAL_TINY = SHARED / "data" / "official_format_tiny"
MAGICANIMATE_INPUTS = SHARED / "data" / "magicanimate_inputs"
PACK_DIR_NAME = "ComfyUI-MagicAnimate"


def requires_shared(path: Path) -> Path:
    """Skip (with the reason) when the data beside the project is absent, e.g. outside this workplace."""
    if not path.exists():
        pytest.skip(f"{path} is absent (the ../shared data beside the clone is not available here)")
    return path


def link(src: Path, dest: Path) -> None:
    """Symlink ``src`` (file or folder) at ``dest``, creating the parents; an existing ``dest`` is kept."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.symlink(src, dest, target_is_directory=src.is_dir())

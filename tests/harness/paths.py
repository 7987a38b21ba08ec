"""Where things are: the clone, the data beside it (``../shared``), and how a test file is linked into a folder."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
# UI workflows and their .jpg thumbnails: what ComfyUI's template browser lists (every *.json of the folder).
UI_WORKFLOWS = REPO / "example_workflows"
# API workflows (what /prompt takes), for the tests and the demo: in a subfolder, which the browser does not list.
API_WORKFLOWS = REPO / "workflows" / "api"


def _shared_folder() -> Path:
    """The workplace's ``shared/`` beside the clone, or beside the checkout a fresh clone was made from."""
    beside = REPO.parent / "shared"
    if beside.is_dir():
        return beside
    origin = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True,
                            text=True).stdout.strip()
    if origin and "://" not in origin and (Path(origin).expanduser().resolve().parent / "shared").is_dir():
        return Path(origin).expanduser().resolve().parent / "shared"
    return beside


SHARED = _shared_folder()
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

"""pytest plugin: collect the clone's root folder as a plain folder, not as a Python package.

The root holds the pack's ``__init__.py`` (what ComfyUI imports from ``custom_nodes/``), so pytest would treat
the clone as a package and import that file under the clone's folder name: ``ComfyUI-MagicAnimate`` (the name
the README installs it under) is not a Python identifier, and the pack's relative imports fail there.  The
tests load the pack the way ComfyUI does instead (``nodes.load_custom_node``), whatever the folder is called.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .paths import REPO


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path.resolve() == REPO:
        return pytest.Dir.from_parent(parent, path=path)
    return None

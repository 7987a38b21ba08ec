"""Thin V3 node classes, one file per component; each module lists its classes in ``NODES``."""
from __future__ import annotations

import importlib
import pkgutil

from comfy_api.latest import io


def all_nodes() -> list[type[io.ComfyNode]]:
    """Every node class declared in a ``NODES`` list of a module of this package, in module order."""
    found: list[type[io.ComfyNode]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f".{info.name}", __name__)
        found.extend(getattr(module, "NODES", []))
    return found

"""Reading a finished prompt's ``/history`` entry: its output frames, what came from the cache, its status."""
from __future__ import annotations

from typing import Any

import numpy as np

from .media import webp_frames


def output_frames(server, entry: dict[str, Any]) -> np.ndarray:
    """The frames of the prompt's one WEBP output."""
    files = [f for f in server.output_files(entry) if f.suffix == ".webp"]
    assert len(files) == 1, files
    return webp_frames(files[0])


def cached_nodes(entry: dict[str, Any]) -> set[str]:
    """Node ids ComfyUI took from its execution cache (the ``execution_cached`` status message)."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_cached":
            return {str(n) for n in data.get("nodes", [])}
    return set()


def status_kinds(entry: dict[str, Any]) -> list[str]:
    """The kinds of the prompt's status messages, in order (``execution_start``, ...)."""
    return [kind for kind, _ in entry.get("status", {}).get("messages", [])]


def ui_texts(entry: dict[str, Any]) -> dict[str, str]:
    """Node id -> the text a node showed on the canvas (its ``text`` UI output, e.g. the pack's warnings)."""
    texts = {}
    for node_id, node_out in entry.get("outputs", {}).items():
        parts = node_out.get("text") if isinstance(node_out, dict) else None
        if parts:
            texts[str(node_id)] = "\n".join(str(p) for p in parts)
    return texts

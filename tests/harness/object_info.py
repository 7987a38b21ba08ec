"""Reading node definitions: ``/object_info`` of a server, or ``INPUT_TYPES()`` of a node class in-process.

A combo input is written two ways, depending on the ComfyUI version and on V1/V3 nodes: V1 (and V3 nodes on
0.3.75) ``[[option, ...], {...}]``, V3 nodes on newer ComfyUI ``["COMBO", {"options": [option, ...], ...}]``.
"""
from __future__ import annotations

from typing import Any


def input_spec(info: dict[str, Any], node_id: str, name: str) -> list:
    """The ``[type, options]`` spec of input ``name`` of ``node_id`` in ``/object_info`` (required or optional)."""
    inputs = info[node_id]["input"]
    for section in ("required", "optional"):
        if name in inputs.get(section, {}):
            return inputs[section][name]
    raise KeyError(f"{node_id} has no input {name!r}")


def combo_options(spec: list | tuple) -> list:
    """The choices of a combo input's spec, in either format; a non-combo spec is an error."""
    kind = spec[0]
    if isinstance(kind, (list, tuple)):
        return list(kind)
    if kind == "COMBO":
        return list(spec[1]["options"])
    raise AssertionError(f"not a combo input: {spec!r}")


def listed_options(info: dict[str, Any], node_id: str, name: str) -> list:
    """The choices ``/object_info`` lists for combo input ``name`` of ``node_id`` (e.g. a loader's model files)."""
    return combo_options(input_spec(info, node_id, name))

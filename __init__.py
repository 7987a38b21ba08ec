"""ComfyUI-MagicAnimate: MagicAnimate (temporally consistent human image animation) as ComfyUI nodes.

ComfyUI imports this package from ``custom_nodes/`` and calls :func:`comfy_entrypoint` (V3 node API).
All model logic lives in ``magic_core``; the node classes in ``nodes`` are thin schemas around it.
"""
from comfy_api.latest import ComfyExtension, io

from .magic_core.model_paths import register_model_folder
from .nodes import all_nodes


class MagicAnimateExtension(ComfyExtension):
    """The pack's single extension: every node class found in ``nodes/``."""

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return all_nodes()


async def comfy_entrypoint() -> MagicAnimateExtension:
    """Called by ComfyUI when it loads the pack."""
    register_model_folder()
    return MagicAnimateExtension()

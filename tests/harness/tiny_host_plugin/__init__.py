"""Test-only custom node for the test server: registers the tiny SD1.5 config so tiny files load.

Linked into the test server's ``custom_nodes/`` beside the pack; never shipped to users.
"""
import importlib.util
import os

from comfy_api.latest import ComfyExtension, io

_spec = importlib.util.spec_from_file_location(
    "magicanimate_tests_tiny_sd15", os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))),
                                                 "tiny_sd15.py"))
_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tiny)
_tiny.register_tiny_sd15()


class _NoNodes(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return []


async def comfy_entrypoint() -> ComfyExtension:
    return _NoNodes()

"""Test-only custom node for the test server: registers the tiny SD1.5 config so tiny files load, and adds
the reliability probe nodes (``probe_nodes.py``).

Linked into the test server's ``custom_nodes/`` beside the pack; never shipped to users.
"""
import importlib.util
import os

from comfy_api.latest import ComfyExtension, io

_HARNESS = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _load(module_name: str, file_name: str):
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(_HARNESS, file_name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_load("magicanimate_tests_tiny_sd15", "tiny_sd15.py").register_tiny_sd15()
_probes = _load("magicanimate_tests_probe_nodes", "probe_nodes.py")


class _ProbeNodes(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(_probes.NODES)


async def comfy_entrypoint() -> ComfyExtension:
    return _ProbeNodes()

"""Test-only custom node for the test server: registers the tiny SD1.5 config so tiny files load, and adds
the reliability probe nodes (``probe_nodes.py``).

Linked into the test server's ``custom_nodes/`` beside the pack; never shipped to users.  ``tests/harness`` is
imported as a package of its own name (``magicanimate_test_harness``), so its modules' relative imports work
and none of its module names (``server``, ``media``, ...) shadows one of ComfyUI's.
"""
import importlib
import importlib.util
import os
import sys

from comfy_api.latest import ComfyExtension, io

_HARNESS = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_PACKAGE = "magicanimate_test_harness"


def _harness_module(name: str):
    """``tests/harness/<name>.py`` as ``magicanimate_test_harness.<name>``."""
    if _PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(_PACKAGE, os.path.join(_HARNESS, "__init__.py"),
                                                      submodule_search_locations=[_HARNESS])
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{_PACKAGE}.{name}")


_harness_module("tiny_sd15").register_tiny_sd15()
_probes = _harness_module("probe_nodes")


class _ProbeNodes(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(_probes.NODES)


async def comfy_entrypoint() -> ComfyExtension:
    return _ProbeNodes()

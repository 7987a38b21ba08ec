"""pytest plugin: mark every test that needs a real ComfyUI server (``server``) or a real browser (``browser``).

Nothing is marked by hand: a test is a ``server`` test when it requests ``comfy_server``, directly or through
any fixture depending on it (pytest's fixture closure, ``item.fixturenames``), and a ``browser`` test when its
body calls a function of ``harness.browser``.  ``-m "not server"`` is then the in-process loop; the longest
in-process tests carry ``@pytest.mark.slow`` by hand (registered in ``pyproject.toml``), and ``make test-fast``
runs ``-m "not server and not slow"``.
"""
from __future__ import annotations

import pytest

from . import browser

SERVER_FIXTURE = "comfy_server"


def uses_server(item: pytest.Item) -> bool:
    """Whether the test starts (or shares) the real ComfyUI server."""
    return SERVER_FIXTURE in getattr(item, "fixturenames", ())


def uses_browser(item: pytest.Item) -> bool:
    """Whether the test's own code calls into ``harness.browser`` (the real frontend in a headless browser)."""
    function = getattr(item, "function", None)
    module = getattr(item, "module", None)
    if function is None or module is None:
        return False
    return any(getattr(getattr(module, name, None), "__module__", None) == browser.__name__
               for name in function.__code__.co_names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_server(item):
            item.add_marker(pytest.mark.server)
        if uses_browser(item):
            item.add_marker(pytest.mark.browser)

"""Fixtures for the shipped workflows: tiny model files under the REAL file names the workflows use,
and small generated inputs (reference image, DensePose videos), placed in the test server's folders."""
from __future__ import annotations

from pathlib import Path

import pytest

from .server_files import install_inputs, install_magicanimate_models


@pytest.fixture(scope="session")
def workflow_files(server_base, model_cache, tiny_checkpoint) -> Path:
    """The test server's base folder with every model and input the shipped workflows name."""
    install_magicanimate_models(server_base, model_cache, tiny_checkpoint)
    install_inputs(server_base)
    return server_base

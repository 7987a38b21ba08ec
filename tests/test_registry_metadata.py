"""The ComfyUI Registry's view of the pack (``pyproject.toml``): a name without "comfyui", a display name, an
icon file in the repository, a description of what a user gets, OS and accelerator classifiers, and the supported
ComfyUI range exactly as ``make test`` tests it (the hosts in ``host/``)."""
from __future__ import annotations

import re

import tomllib
from harness.paths import REPO
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from PIL import Image

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT, COMFY = PYPROJECT["project"], PYPROJECT["tool"]["comfy"]
# The Registry's rules for a node id: under 100 characters; letters, digits, '-', '_', '.'; no two special
# characters in a row; starting with a letter.
NODE_ID = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|[-_.](?=[A-Za-z0-9]))*")


def make_test_hosts() -> list[Version]:
    return sorted(Version(p.name.removeprefix("comfyui-")) for p in (REPO / "host").glob("comfyui-*"))


def test_the_node_id_follows_the_registry_rules():
    name = PROJECT["name"]
    assert NODE_ID.fullmatch(name) and len(name) < 100, name
    assert "comfyui" not in name.lower()
    assert re.fullmatch(r"\d+\.\d+\.\d+", PROJECT["version"])


def test_display_name_publisher_and_description():
    assert COMFY["DisplayName"] == "MagicAnimate" and COMFY["PublisherId"]
    description = PROJECT["description"]
    assert all(w in description for w in ("photo", "video", "any length", "SD1.5")), description


def test_the_icon_is_a_small_square_image_in_the_repository():
    repository = PROJECT["urls"]["Repository"].removeprefix("https://github.com/")
    prefix = f"https://raw.githubusercontent.com/{repository}/main/"
    assert COMFY["Icon"].startswith(prefix), COMFY["Icon"]
    icon = REPO / COMFY["Icon"].removeprefix(prefix)
    assert icon.is_file() and icon.stat().st_size < 50_000
    with Image.open(icon) as image:
        assert image.width == image.height <= 400 and image.format == "PNG"


def test_classifiers_name_the_operating_systems_and_an_accelerator():
    classifiers = PROJECT["classifiers"]
    assert any(c.startswith("Operating System :: ") for c in classifiers)
    assert any(re.match(r"Environment :: (GPU|NPU) :: ", c) for c in classifiers)


def test_supported_comfyui_range_is_what_make_test_tests():
    supported = SpecifierSet(COMFY["requires-comfyui"])
    hosts = make_test_hosts()
    assert [str(v) for v in hosts] == ["0.3.75", "0.33.0"]
    assert all(v in supported for v in hosts)
    oldest, newest = hosts[0], hosts[-1]
    assert Version("0.3.74") not in supported and Version(f"{newest.major}.{newest.minor}.{newest.micro + 1}") \
        not in supported                                                   # nothing beyond what is tested
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"**Supported ComfyUI versions: {oldest} to {newest}**" in readme

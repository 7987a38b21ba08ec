"""The package's shape: the five components stand side by side (none imports another); what they share is the
floor below them (``magic_core/*.py``), e.g. the keys of a model call's ``transformer_options`` (``call_options``)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "magic_core"
COMPONENTS = ("appearance", "densepose", "fusion", "motion", "temporal")


def imported_packages(path: Path, core: Path = CORE) -> set[str]:
    """The ``magic_core`` subpackages (first name below ``magic_core``) that the file at ``path`` imports."""
    package = path.parent.relative_to(core.parent).parts  # e.g. ("magic_core", "fusion")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                names = [*base, *(node.module or "").split(".")] if node.module else base
                targets = [names] if node.module else [[*base, alias.name] for alias in node.names]
            else:
                targets = [(node.module or "").split(".")]
        elif isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        else:
            continue
        found.update(t[1] for t in targets if len(t) > 1 and t[0] == "magic_core" and t[1])
    return found


@pytest.mark.parametrize("component", COMPONENTS)
def test_no_component_imports_another(component):
    wrong = {f"{path.relative_to(CORE)} imports {other}"
             for path in sorted((CORE / component).rglob("*.py"))
             for other in imported_packages(path) if other in COMPONENTS and other != component}
    assert not wrong, sorted(wrong)


def test_the_import_reader_sees_a_component_import(tmp_path):
    """The check above can fail: a relative and an absolute import of another component are both found."""
    fake = tmp_path / "magic_core" / "fusion"
    fake.mkdir(parents=True)
    source = fake / "bad.py"
    source.write_text("from ..temporal import patch\nfrom .. import appearance\nimport magic_core.motion.align\n"
                      "from ..errors import MagicAnimateError\nfrom .windows import Window\n")
    found = imported_packages(source, tmp_path / "magic_core")
    assert found == {"temporal", "appearance", "motion", "errors", "fusion"}

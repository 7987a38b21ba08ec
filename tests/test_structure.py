"""The package's shape: the five components stand side by side (none imports another); what they share is the
floor below them (``magic_core/*.py``), e.g. the keys of a model call's ``transformer_options`` (``call_options``);
nodes, training and the benchmark use each component through its package's ``__init__``."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "magic_core"
COMPONENTS = ("appearance", "densepose", "fusion", "motion", "temporal")


def imported_core_modules(path: Path, root: Path = ROOT) -> set[tuple[str, ...]]:
    """What the file at ``path`` (below ``root``) imports from ``magic_core``: the dotted names below it, as tuples
    (``from ..temporal.patch import KEY`` in ``magic_core/fusion/x.py`` gives ``("temporal", "patch")``)."""
    package = path.parent.relative_to(root.parent).parts
    targets: list[list[str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = (node.module or "").split(".") if node.module else []
            if module:
                targets.append([*base, *module])
            else:
                targets += [[*base, alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            targets += [alias.name.split(".") for alias in node.names]
    return {tuple(t[t.index("magic_core") + 1:]) for t in targets if "magic_core" in t[:-1]}


@pytest.mark.parametrize("component", COMPONENTS)
def test_no_component_imports_another(component):
    wrong = {f"{path.relative_to(ROOT)} imports {'.'.join(module)}"
             for path in sorted((CORE / component).rglob("*.py"))
             for module in imported_core_modules(path) if module[0] in COMPONENTS and module[0] != component}
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("user", ["nodes", "bench", "magic_core/training"])
def test_components_are_used_through_their_package_faces(user):
    wrong = {f"{path.relative_to(ROOT)} imports {'.'.join(module)}"
             for path in sorted((ROOT / user).rglob("*.py"))
             for module in imported_core_modules(path) if module[0] in COMPONENTS and len(module) > 1}
    assert not wrong, sorted(wrong)


def test_the_import_reader_sees_relative_and_absolute_imports(tmp_path):
    """The checks above can fail: every form of import of another component is found."""
    fake = tmp_path / "pack" / "magic_core" / "fusion"
    fake.mkdir(parents=True)
    source = fake / "bad.py"
    source.write_text("from ..temporal import patch\nfrom .. import appearance\nimport magic_core.motion.align\n"
                      "from ..errors import MagicAnimateError\nfrom .windows import Window\n")
    found = imported_core_modules(source, tmp_path / "pack")
    assert found == {("temporal",), ("appearance",), ("motion", "align"), ("errors",), ("fusion", "windows")}
    node = tmp_path / "pack" / "nodes"
    node.mkdir()
    (node / "n.py").write_text("from ..magic_core.fusion.sampler import fusion_sample\n")
    assert imported_core_modules(node / "n.py", tmp_path / "pack") == {("fusion", "sampler")}

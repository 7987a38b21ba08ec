"""Rewrite README's generated list of warnings from magic_core/notices.py (run after adding or changing a notice)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- notices:start -->", "<!-- notices:end -->"


def _notices_module():
    spec = importlib.util.spec_from_file_location("magicanimate_notices", REPO / "magic_core" / "notices.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def main() -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{_notices_module().notice_table()}\n{END}{tail}")
    print(f"updated {readme}")


if __name__ == "__main__":
    main()

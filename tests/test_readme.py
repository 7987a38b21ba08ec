"""The README tells the truth: every node is in its node table, and its troubleshooting table is the bad-input
matrix that the server tests last observed (``tests/bad_input_matrix.md``)."""
from __future__ import annotations

import re

from harness.paths import REPO

README = (REPO / "README.md").read_text()


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| ---")]


def test_every_node_is_in_the_node_table():
    node_ids = {m for f in (REPO / "nodes").glob("*.py") for m in re.findall(r'node_id="(\w+)"', f.read_text())}
    assert len(node_ids) >= 9
    nodes_section = README[README.index("## Nodes"):README.index("## Workflows")]
    missing = sorted(n for n in node_ids if f"`{n}`" not in nodes_section)
    assert not missing, f"nodes missing from the README's node table: {missing}"


def test_troubleshooting_table_matches_the_observed_bad_input_matrix():
    matrix = _table_rows((REPO / "tests" / "bad_input_matrix.md").read_text())
    section = README[README.index("## Troubleshooting"):README.index("## Development")]
    assert len(matrix) > 40
    missing = [row for row in matrix if row not in _table_rows(section)]
    assert not missing, ("README's troubleshooting table is out of date; paste tests/bad_input_matrix.md's table "
                         f"into it. First missing row: {missing[0]}")


def test_where_things_live_lists_every_file_of_the_pack():
    section = README[README.index("### Where things live"):]
    listed = set(re.findall(r"^- `([\w/.]+\.py)`:", section, flags=re.M))
    files = {str(p.relative_to(REPO)) for folder in ("nodes", "magic_core", "bench", "scripts")
             for p in (REPO / folder).rglob("*.py")} | {"__init__.py"}
    assert sorted(files - listed) == [], "files missing from README's 'Where things live'"
    assert sorted(listed - files) == [], "README's 'Where things live' lists files that do not exist"


def test_node_table_lists_every_input():
    nodes_section = README[README.index("## Nodes"):README.index("## Workflows")]
    missing = []
    for source in (REPO / "nodes").glob("*.py"):
        for schema in source.read_text().split('node_id="')[1:]:
            node_id = schema.split('"', 1)[0]
            inputs = re.findall(r'io\.\w+\.Input\(\s*"(\w+)"', schema.split("outputs=", 1)[0])
            row = next((line for line in nodes_section.splitlines() if line.startswith(f"| `{node_id}` |")), "")
            missing += [f"{node_id}.{name}" for name in inputs if f"`{name}`" not in row]
    assert not missing, f"inputs missing from the README's node table: {missing}"


def test_warnings_list_is_generated_from_the_notice_catalogue():
    from magic_core.notices import NOTICES, notice_table

    start, end = "<!-- notices:start -->\n", "\n<!-- notices:end -->"
    listed = README[README.index(start) + len(start):README.index(end)]
    assert NOTICES and listed == notice_table(), ("README's list of warnings is out of date; run "
                                                  "python3 scripts/update_readme_notices.py")

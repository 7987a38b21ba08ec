"""torch.profiler operator tables for the side-by-side bench: the same format on both sides, so they compare.

``write_profile(prof, path)`` writes the operator table (self CPU time, sorted) to ``path`` and every operator's
count and self/total CPU time to ``path`` + ``.json``; ``python bench/op_table.py ORIGINAL.json PACK.json`` prints
them side by side (self seconds and call counts per operator, largest difference first).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROWS = 60


def write_profile(prof, path: str | Path) -> None:
    """The key averages of ``prof`` (a finished ``torch.profiler.profile``) as a table and as JSON."""
    averages = prof.key_averages()
    Path(path).write_text(averages.table(sort_by="self_cpu_time_total", row_limit=ROWS), encoding="utf-8")
    rows = {e.key: {"calls": e.count, "self_s": e.self_cpu_time_total / 1e6, "total_s": e.cpu_time_total / 1e6}
            for e in averages}
    Path(str(path) + ".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")


def compare(original: dict, pack: dict, rows: int = 40) -> str:
    """Operators of both runs by self time, the largest |original - pack| first."""
    names = sorted(set(original) | set(pack), key=lambda n: -abs(original.get(n, {}).get("self_s", 0)
                                                                 - pack.get(n, {}).get("self_s", 0)))
    empty = {"calls": 0, "self_s": 0.0}
    lines = [f"{'operator':44s} {'orig s':>9s} {'calls':>7s} {'pack s':>9s} {'calls':>7s} {'orig-pack':>10s}"]
    for name in names[:rows]:
        o, p = original.get(name, empty), pack.get(name, empty)
        lines.append(f"{name[:44]:44s} {o['self_s']:9.3f} {o['calls']:7d} {p['self_s']:9.3f} {p['calls']:7d} "
                     f"{o['self_s'] - p['self_s']:10.3f}")
    total_o = sum(v["self_s"] for v in original.values())
    total_p = sum(v["self_s"] for v in pack.values())
    lines.append(f"{'all operators (self)':44s} {total_o:9.3f} {'':7s} {total_p:9.3f} {'':7s} "
                 f"{total_o - total_p:10.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    first, second = (json.loads(Path(p).read_text(encoding="utf-8")) for p in sys.argv[1:3])
    print(compare(first, second))

"""Make the UI-format workflows (what users drag onto the canvas) from the API-format ones, in the real frontend.

    make ui-workflows      # = python scripts/make_ui_workflows.py inside the host

For each ``workflows/<name>_api.json`` this starts a real ComfyUI server with the pack, opens its frontend in
headless Chromium, loads the API workflow with the frontend's own ``app.loadApiJson`` (node titles come from
``_meta.title``), lays the nodes out in columns, adds the groups below that tell a user what to change, and
saves ``app.graph.serialize()`` as ``workflows/<name>.json``.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests")]

from harness.browser import frontend  # noqa: E402
from harness.server import ComfyServer  # noqa: E402

WORKFLOWS = REPO / "workflows"

# Groups: title, colour, and the API node ids they frame.
GROUPS: dict[str, list[tuple[str, str, list[str]]]] = {
    "magicanimate_basic": [
        ("1. Models: pick your SD1.5 checkpoint, VAE and the MagicAnimate files", "#3f789e",
         ["1", "2", "10", "12", "14"]),
        ("2. Inputs: your reference photo and DensePose video", "#8A8", ["5", "6", "7", "8"]),
        ("3. MagicAnimate: appearance, DensePose, temporal attention, fusion sampler", "#a1309b",
         ["3", "4", "9", "11", "13", "15", "16"]),
        ("4. Output: decode and save (mp4 at the input's fps, animated WEBP)", "#b06634", ["17", "18", "19", "20"]),
    ],
}

# Column of each node (left to right), so the graph reads in the order of the data flow.
COLUMNS: dict[str, dict[str, int]] = {
    "magicanimate_basic": {"1": 0, "2": 0, "10": 0, "12": 0, "14": 0, "5": 1, "6": 1, "7": 1, "8": 2, "3": 1,
                           "4": 1, "9": 3, "11": 2, "13": 3, "15": 2, "16": 4, "17": 5, "18": 6, "19": 7,
                           "20": 7},
}

LAYOUT_JS = """([columns, groups]) => {
  const g = window.app.graph;
  const byId = {};
  for (const n of g._nodes) byId[String(n.id)] = n;
  const colY = {};
  for (const [id, col] of Object.entries(columns)) {
    const n = byId[id]; if (!n) continue;
    const y = colY[col] ?? 80;
    n.pos = [40 + col * 380, y];
    colY[col] = y + n.size[1] + 70;
  }
  for (const [title, color, ids] of groups) {
    const nodes = ids.map(i => byId[i]).filter(Boolean);
    const x0 = Math.min(...nodes.map(n => n.pos[0])) - 20, y0 = Math.min(...nodes.map(n => n.pos[1])) - 60;
    const x1 = Math.max(...nodes.map(n => n.pos[0] + n.size[0])) + 20;
    const y1 = Math.max(...nodes.map(n => n.pos[1] + n.size[1])) + 20;
    const grp = new window.LiteGraph.LGraphGroup(title);
    grp.color = color;
    grp.pos = [x0, y0]; grp.size = [x1 - x0, y1 - y0];
    g.add(grp);
  }
  g.setDirtyCanvas(true, true);
}"""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="magicanimate-ui-") as tmp:
        base = Path(tmp)
        for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "custom_nodes" / "ComfyUI-MagicAnimate").symlink_to(REPO, target_is_directory=True)
        server = ComfyServer(Path(os.environ["COMFYUI_PATH"]), sys.executable, base, cpu=True)
        server.start()
        try:
            with frontend(server.url) as page:
                for api_path in sorted(WORKFLOWS.glob("*_api.json")):
                    name = api_path.name[: -len("_api.json")]
                    page.load_api_workflow(json.loads(api_path.read_text()))
                    page.page.evaluate(LAYOUT_JS, [COLUMNS.get(name, {}), GROUPS.get(name, [])])
                    missing = page.missing_node_types()
                    if missing:
                        raise SystemExit(f"{name}: node types missing in the frontend: {missing}")
                    out = WORKFLOWS / f"{name}.json"
                    out.write_text(json.dumps(page.serialize(), indent=1) + "\n")
                    page.page.screenshot(path=str(WORKFLOWS / f"{name}.png"))
                    print(f"wrote {out}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Make the UI-format workflows (what users drag onto the canvas) from the API-format ones, in the real frontend.

    make ui-workflows      # = python scripts/make_ui_workflows.py inside the host

For each ``workflows/api/<name>_api.json`` this starts a real ComfyUI server with the pack, opens its frontend in
headless Chromium, loads the API workflow with the frontend's own ``app.loadApiJson`` (node titles come from
``_meta.title``), lays the nodes out in columns, adds the groups below that tell a user what to change, and
saves ``app.graph.serialize()`` as ``example_workflows/<name>.json`` with a screenshot as its template thumbnail
``example_workflows/<name>.jpg`` (ComfyUI's template browser lists that folder). The server gets the workflows'
input files and empty stand-ins under their model file names, so the frontend finds every file it lists (no
"missing model" errors in the screenshots); nothing is run.
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

API_WORKFLOWS = REPO / "workflows" / "api"
UI_WORKFLOWS = REPO / "example_workflows"
# Loader node -> (model file input, models/ subfolder) of the shipped workflows.
MODEL_INPUTS = {"CheckpointLoaderSimple": ("ckpt_name", "checkpoints"), "VAELoader": ("vae_name", "vae"),
                "UpscaleModelLoader": ("model_name", "upscale_models"),
                "MagicAnimateAppearanceEncoderLoader": ("encoder_name", "magicanimate"),
                "MagicAnimateDensePoseControlNetLoader": ("controlnet_name", "magicanimate"),
                "MagicAnimateTemporalAttentionLoader": ("model_name", "magicanimate")}

# Groups left to right: title, colour, and columns of API node ids (ids absent from a workflow are skipped).
MODELS = ("1. Models: pick your SD1.5 checkpoint, VAE and the MagicAnimate files", "#3f789e",
          [["1", "2", "10", "12", "14", "21"]])
INPUTS = ("2. Inputs: your reference photo and DensePose motion", "#8A8", [["5"], ["6", "7", "8"]])
DENSEPOSE = ("2b. DensePose from your video: estimate, remove jitter, align to the reference person", "#6a5acd",
             [["23", "25", "29"], ["24", "28"], ["26", "27", "30"]])
MAGIC = ("3. MagicAnimate: appearance, DensePose, temporal attention, fusion sampler", "#a1309b",
         [["3", "4", "9"], ["15", "11", "13"], ["16"]])
OUTPUT = ("4. Output: decode (one frame at a time on CPU: bounded memory), upscale, save mp4 and WEBP at the motion's "
          "fps", "#b06634", [["17"], ["22", "18"], ["19", "20"]])
GROUPS = [MODELS, INPUTS, DENSEPOSE, MAGIC, OUTPUT]

LAYOUT_JS = """(groups) => {
  const g = window.app.graph;
  const byId = {};
  for (const n of g._nodes) byId[String(n.id)] = n;
  let x = 40;
  for (const [title, color, columns] of groups) {
    const x0 = x, members = [];
    for (const column of columns) {
      const nodes = column.map(i => byId[i]).filter(Boolean);
      if (!nodes.length) continue;
      let y = 120;
      for (const n of nodes) { n.pos = [x + 20, y]; y += n.size[1] + 60; members.push(n); }
      x += Math.max(...nodes.map(n => n.size[0])) + 40;
    }
    if (!members.length) continue;
    const grp = new window.LiteGraph.LGraphGroup(title);
    grp.color = color;
    const y1 = Math.max(...members.map(n => n.pos[1] + n.size[1]));
    grp.pos = [x0, 40]; grp.size = [x - x0 + 20, y1 - 40 + 30];
    g.add(grp);
    x += 80;
  }
  // Reproducible by default (the original uses seed 1): the frontend's seed control starts as "randomize".
  for (const n of g._nodes) for (const w of n.widgets || []) if (w.name === "control_after_generate") w.value = "fixed";
  g.setDirtyCanvas(true, true);
}"""


def place_files(base: Path) -> None:
    """The workflows' inputs (small generated files) and an empty file for each model file they name."""
    sys.path[:0] = [os.environ["COMFYUI_PATH"], str(REPO)]  # the inputs are rendered with the pack's own code
    import comfy.options

    comfy.options.enable_args_parsing(False)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # nothing is computed here; do not look for a GPU
    from harness.server_files import install_inputs

    install_inputs(base)
    for api_path in API_WORKFLOWS.glob("*_api.json"):
        for node in json.loads(api_path.read_text()).values():
            key, folder = MODEL_INPUTS.get(node["class_type"], (None, None))
            if key:
                path = base / "models" / folder / node["inputs"][key]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="magicanimate-ui-") as tmp:
        base = Path(tmp)
        for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "custom_nodes" / "ComfyUI-MagicAnimate").symlink_to(REPO, target_is_directory=True)
        place_files(base)
        server = ComfyServer(Path(os.environ["COMFYUI_PATH"]), sys.executable, base, cpu=True)
        server.start()
        try:
            with frontend(server.url, viewport=(2400, 1300)) as page:
                for api_path in sorted(API_WORKFLOWS.glob("*_api.json")):
                    name = api_path.name[: -len("_api.json")]
                    page.load_api_workflow(json.loads(api_path.read_text()))
                    page.page.evaluate(LAYOUT_JS, GROUPS)
                    missing = page.missing_node_types()
                    if missing:
                        raise SystemExit(f"{name}: node types missing in the frontend: {missing}")
                    out = UI_WORKFLOWS / f"{name}.json"
                    out.write_text(json.dumps(page.serialize(), indent=1) + "\n")
                    page.fit_view()
                    page.page.screenshot(path=str(UI_WORKFLOWS / f"{name}.jpg"), type="jpeg", quality=85)
                    print(f"wrote {out}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

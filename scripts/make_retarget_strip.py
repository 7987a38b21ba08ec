"""Draw README's retarget before/after strip from the retarget tests' synthetic figures.

    python3 scripts/host.py run -- python scripts/make_retarget_strip.py   # writes docs/retarget_strip.png

Panels: the driver (a synthetic "video" frame), its DensePose, that DensePose after Align Motion's ``retarget``
to the reference, and the reference photo (with the reference's DensePose it was measured on).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "retarget_strip.png"


def main() -> int:
    sys.path[:0] = [os.environ["COMFYUI_PATH"], str(REPO), str(REPO / "tests")]
    import comfy.options

    comfy.options.enable_args_parsing(False)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    import torch
    import torch.nn.functional as F
    from harness.retarget_figures import retarget_figures
    from PIL import Image, ImageDraw

    from magic_core.motion import align_motion, render_labels
    from magic_core.training.synthetic import person_palette, render_person

    torch.set_num_threads(1)
    driver, _, photo = retarget_figures("walk", 3, frames=1)
    aligned = align_motion(render_labels(driver), render_labels(photo), mode="retarget")[0]
    panels = [("driver", render_person(driver, person_palette(11))[0]),
              ("driver's DensePose", render_labels(driver[0])),
              ("retargeted DensePose", aligned), ("reference", render_person(photo, person_palette(12))[0])]
    height = 240
    strip = []
    for _, image in panels:
        x = image.movedim(-1, 0)[None]
        width = round(x.shape[-1] * height / x.shape[-2])
        strip.append(F.interpolate(x, size=(height, width), mode="nearest")[0].movedim(0, -1))
    canvas = Image.fromarray((torch.cat(strip, dim=1) * 255).round().to(torch.uint8).numpy())
    draw = ImageDraw.Draw(canvas)
    x = 0
    for (title, _), image in zip(panels, strip, strict=True):
        draw.text((x + 6, 6), title, fill=(255, 255, 255))
        x += image.shape[1]
    OUT.parent.mkdir(exist_ok=True)
    canvas.save(OUT, optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

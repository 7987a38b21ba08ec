"""A tiny DensePose TorchScript model with the real models' call and output layout, deterministic.

``pred_boxes, coarse_segm, fine_segm, u, v = model(image)``; ``image`` uint8 ``[3, H, W]``, H and W multiples of
64 (asserted, as the real graphs need). People are found by colour: "red" pixels (R > 150, G < 110, B < 110) are
person 1, "blue" pixels (B > 150, R < 110, G < 110) person 2 (in that order). A person's box is the colour
mask's bounding box widened by `MARGIN` of its size on each side (so it can reach past the image edge). Its
S x S logits: coarse says "body" where the grid point's pixel is in the mask; fine gives part
``1 + 2 * floor(12 * v) + floor(2 * u)`` (u, v the point's position in the box): every part 1..24 appears.
"""
from __future__ import annotations

from pathlib import Path

import torch

MARGIN = 0.1
S = 24
LOGIT = 8.0


class TinyDensePose(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.size = S
        self.logit = LOGIT
        self.margin = MARGIN

    def forward(self, image: torch.Tensor):
        S, LOGIT, MARGIN = self.size, self.logit, self.margin
        assert image.dtype == torch.uint8 and image.dim() == 3 and image.shape[0] == 3
        assert image.shape[1] % 64 == 0 and image.shape[2] % 64 == 0
        x = image.to(torch.int32)
        r, g, b = x[0], x[1], x[2]
        masks = [(r > 150) & (g < 110) & (b < 110), (b > 150) & (r < 110) & (g < 110)]
        height, width = image.shape[1], image.shape[2]
        boxes: list[torch.Tensor] = []
        coarse: list[torch.Tensor] = []
        fine: list[torch.Tensor] = []
        grid = (torch.arange(S, dtype=torch.float32, device=image.device) + 0.5) / S
        for mask in masks:
            rows = torch.nonzero(mask.any(dim=1)).flatten()
            cols = torch.nonzero(mask.any(dim=0)).flatten()
            if rows.numel() == 0:
                continue
            y0, y1 = float(rows[0]), float(rows[-1]) + 1.0
            x0, x1 = float(cols[0]), float(cols[-1]) + 1.0
            mh, mw = (y1 - y0) * MARGIN, (x1 - x0) * MARGIN
            y0, y1, x0, x1 = y0 - mh, y1 + mh, x0 - mw, x1 + mw
            boxes.append(torch.tensor([x0, y0, x1, y1], dtype=torch.float32, device=image.device))
            py = (y0 + grid * (y1 - y0)).floor().long()
            px = (x0 + grid * (x1 - x0)).floor().long()
            inside = ((py >= 0) & (py < height))[:, None] & ((px >= 0) & (px < width))[None, :]
            body = mask[py.clamp(0, height - 1)][:, px.clamp(0, width - 1)] & inside
            c = torch.zeros(2, S, S, device=image.device)
            c[1] = torch.where(body, LOGIT, -LOGIT)
            part = 1 + 2 * (grid * 12).floor().long()[:, None] + (grid * 2).floor().long()[None, :]
            f = torch.zeros(25, S, S, device=image.device)
            f.scatter_(0, part[None], LOGIT)
            coarse.append(c)
            fine.append(f)
        if len(boxes) == 0:
            empty = torch.zeros(0, 25, S, S, device=image.device)
            return (torch.zeros(0, 4, device=image.device), torch.zeros(0, 2, S, S, device=image.device),
                    empty, empty, empty)
        fine_t = torch.stack(fine)
        return torch.stack(boxes), torch.stack(coarse), fine_t, torch.zeros_like(fine_t), torch.zeros_like(fine_t)


def write_tiny_densepose_torchscript(path: Path) -> Path:
    """Script the tiny model and save it as a TorchScript archive at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(TinyDensePose()), str(path))
    return path


def person_image(height: int, width: int, red: tuple[int, int, int, int] | None = None,
                 blue: tuple[int, int, int, int] | None = None, background: float = 0.5) -> torch.Tensor:
    """An IMAGE ``[1, H, W, 3]``: grey with a red and/or blue rectangle (top, left, bottom, right)."""
    img = torch.full((1, height, width, 3), background)
    for rect, color in ((red, (0.9, 0.1, 0.1)), (blue, (0.1, 0.1, 0.9))):
        if rect is not None:
            top, left, bottom, right = rect
            img[0, top:bottom, left:right] = torch.tensor(color)
    return img


def plain_dance_video(height: int, width: int, frames: int, seed: int = 0,
                      away: tuple[int, ...] = ()) -> torch.Tensor:
    """"Footage" ``[F, H, W, 3]``: the synthetic walking figure in red (the colour the tiny model detects),
    small and off-centre on a shaded green-grey wall: not DensePose, a video the estimator has to process.
    In the frames ``away`` the person is out of the picture."""
    from magic_core.motion import render_part_indices

    parts = render_part_indices(width, height, frames, "walk", seed)
    wall = torch.tensor([0.45, 0.55, 0.5]) * torch.linspace(1.0, 0.8, height).view(1, height, 1, 1)
    video = wall.expand(frames, height, width, 3).clone()
    parts[list(away)] = 0
    video[parts > 0] = torch.tensor([0.85, 0.15, 0.12])
    return video


def plain_person_photo(height: int, width: int, seed: int = 4) -> torch.Tensor:
    """A "photo" ``[H, W, 3]`` of one person (the figure in red, larger and elsewhere than in the video)."""
    return plain_dance_video(height, width, 1, seed)[0]

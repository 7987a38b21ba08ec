"""Who drives: which of the DensePose model's detections are drawn, followed from frame to frame.

``all`` draws every detection (the reference renderer's behaviour). ``largest`` / ``leftmost`` pick one person in
the first frame with a detection (largest box area; smallest box centre x) and ``by mask`` the people whose box lies
mostly (`MOSTLY_INSIDE` of its area) inside the MASK; a one-frame mask picks in the first frame where someone is
inside it, a mask per frame picks in every frame. A picked person is then followed by box overlap: in each frame the
detection with the highest IoU with the person's last box (moved by its last step), at least `TRACK_IOU`, is theirs,
so the choice holds when people cross or one leaves. Frames with detections but none of the chosen people are
"lost" (named in one warning by the estimator).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import MagicAnimateError

PERSON_MODES = ("all", "largest", "leftmost", "by mask")
MOSTLY_INSIDE = 0.5
TRACK_IOU = 0.2


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of XYXY boxes ``[N, 4]`` x ``[M, 4]`` -> ``[N, M]``."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda x: (x[:, 2:] - x[:, :2]).clamp(min=0).prod(-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter).clamp(min=1e-6)


def inside_share(boxes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of each XYXY box's area (within the image) covered by the boolean ``[H, W]`` mask."""
    h, w = mask.shape
    shares = []
    for x0, y0, x1, y1 in boxes.tolist():
        c0, r0 = min(max(int(x0), 0), w), min(max(int(y0), 0), h)
        c1, r1 = min(max(int(round(x1)), c0), w), min(max(int(round(y1)), r0), h)
        region = mask[r0:r1, c0:c1]
        shares.append(float(region.float().mean()) if region.numel() else 0.0)
    return torch.tensor(shares)


@dataclass
class PersonPicker:
    """Chooses, frame by frame, the detections to draw. Boxes are XYXY in the input frame's pixels."""
    mode: str = "all"
    masks: torch.Tensor | None = None  # bool [1 or frames, H, W] at the input's size
    tracks: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (last box, last step)
    lost: list[int] = field(default_factory=list)
    left_out: int = 0
    left_out_frames: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in PERSON_MODES:
            raise MagicAnimateError(f"MagicAnimate DensePose estimator: person must be one of {PERSON_MODES}, "
                                    f"got {self.mode!r}.")

    def choose(self, index: int, boxes: torch.Tensor) -> list[int]:
        """Indices (model order) of the detections to draw in frame ``index``."""
        boxes = boxes.float().cpu()
        if self.mode == "all" or boxes.shape[0] == 0:
            return list(range(boxes.shape[0]))
        if self.mode == "by mask" and self.masks is not None and self.masks.shape[0] > 1:
            chosen = self._in_mask(boxes, self.masks[index])
        elif not self.tracks:
            chosen = self._first_pick(boxes)
            self.tracks = [(boxes[i], torch.zeros(4)) for i in chosen]
        else:
            chosen = self._follow(boxes)
        if not chosen:
            self.lost.append(index)
        if len(chosen) < boxes.shape[0]:
            self.left_out += boxes.shape[0] - len(chosen)
            self.left_out_frames.append(index)
        return chosen

    def _in_mask(self, boxes: torch.Tensor, mask: torch.Tensor) -> list[int]:
        return [i for i, share in enumerate(inside_share(boxes, mask).tolist()) if share >= MOSTLY_INSIDE]

    def _first_pick(self, boxes: torch.Tensor) -> list[int]:
        if self.mode == "by mask":
            return self._in_mask(boxes, self.masks[0])
        if self.mode == "largest":
            return [int((boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(-1).argmax())]
        return [int(((boxes[:, 0] + boxes[:, 2]) / 2).argmin())]  # leftmost: smallest box centre x

    def _follow(self, boxes: torch.Tensor) -> list[int]:
        predicted = torch.stack([box + step for box, step in self.tracks])
        iou = box_iou(predicted, boxes)
        chosen: list[int] = []
        for t in range(len(self.tracks)):  # greedy: each track takes its best free detection
            order = iou[t].argsort(descending=True).tolist()
            best = next((i for i in order if i not in chosen), None)
            if best is not None and iou[t, best] >= TRACK_IOU:
                chosen.append(best)
                box, _ = self.tracks[t]
                self.tracks[t] = (boxes[best], boxes[best] - box)
            else:
                self.tracks[t] = (self.tracks[t][0], torch.zeros(4))  # lost: wait where it was last seen
        return chosen

"""Reuse of DensePose ControlNet residuals between the windows of one whole-video evaluation.

A frame's residuals depend only on that frame's noisy latent, timestep, hint and text, all the same in every
window of one evaluation (:mod:`magic_core.evaluation_scope`), so a frame in the overlap of two windows needs
the ControlNet once per evaluation, not once per window (48 -> 32 frame evaluations for 32 frames at 16/4).

Memory is bounded: a frame's residuals are kept only while a later window of the same evaluation still needs
it, and never more frames than the call that computed them holds (one window: the residuals ComfyUI already
holds for one model call), the soonest needed first.  They stay on the device they were computed on (moving
them to the intermediate device and back would cost more transfers than recomputing saves on a GPU), and
the store is dropped with the evaluation.  Before reuse the stored inputs are compared with the call's
(latent, timestep, text): a mismatch (e.g. two prompts sharing one ControlNet) recomputes the call.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..evaluation_scope import VideoEvaluation

Residuals = dict[str, list]


@dataclass
class _Entry:
    x: torch.Tensor
    t: torch.Tensor
    context: torch.Tensor
    residuals: dict[str, list]  # key -> [row tensor or None, ...]


class ResidualStore:
    """Per-frame residuals of one ControlNet within one evaluation, keyed by (frame, chunk kind)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, int], _Entry] = {}
        self.peak_frames = 0      # most rows held at once (the memory bound's witness)
        self.reused_rows = 0
        self.computed_rows = 0

    def forward(self, evaluation: VideoEvaluation, keys: list[tuple[int, int]], x: torch.Tensor, t: torch.Tensor,
                context: torch.Tensor, hint: torch.Tensor, run: Callable[..., Residuals]) -> Residuals:
        """Residuals of the rows ``keys`` (``(frame, chunk kind)`` per row of ``x``): stored rows reused, the
        others computed by ``run(x, hint, t, context)`` on those rows only."""
        hits = [r for r, key in enumerate(keys) if key in self.entries]
        if hits and not self._inputs_match(hits, keys, x, t, context):
            self.entries.clear()
            hits = []
        if not hits:
            out = run(x, hint, t, context)
            computed = list(range(len(keys)))
        else:
            computed = [r for r in range(len(keys)) if r not in set(hits)]
            part = None
            if computed:
                idx = torch.tensor(computed, dtype=torch.long, device=x.device)
                part = run(x.index_select(0, idx), hint.index_select(0, idx), t.index_select(0, idx),
                           context.index_select(0, idx))
            out = self._assemble(len(keys), hits, keys, computed, part)
        self.reused_rows += len(hits)
        self.computed_rows += len(computed)
        self._keep(evaluation, keys, computed, x, t, context, out)
        return out

    def _inputs_match(self, hits: list[int], keys: list, x: torch.Tensor, t: torch.Tensor,
                      context: torch.Tensor) -> bool:
        stored = [self.entries[keys[r]] for r in hits]
        if any(e.x.shape != x.shape[1:] or e.context.shape != context.shape[1:] for e in stored):
            return False
        idx = torch.tensor(hits, dtype=torch.long, device=x.device)
        return (torch.equal(torch.stack([e.x for e in stored]), x.index_select(0, idx))
                and torch.equal(torch.stack([e.t for e in stored]), t.index_select(0, idx))
                and torch.equal(torch.stack([e.context for e in stored]), context.index_select(0, idx)))

    def _assemble(self, rows: int, hits: list[int], keys: list, computed: list[int],
                  part: Residuals | None) -> Residuals:
        template = part if part is not None else None
        stored = [self.entries[keys[r]] for r in hits]
        out: Residuals = {}
        for name, tensors in stored[0].residuals.items():
            built = []
            for j, first in enumerate(tensors):
                if first is None:
                    built.append(None)
                    continue
                full = first.new_empty((rows, *first.shape))
                full[hits] = torch.stack([e.residuals[name][j] for e in stored])
                if template is not None:
                    full[computed] = template[name][j]
                built.append(full)
            out[name] = built
        return out

    def _keep(self, evaluation: VideoEvaluation, keys: list, computed: list[int], x: torch.Tensor, t: torch.Tensor,
              context: torch.Tensor, out: Residuals) -> None:
        """Drop what no later window needs; keep new rows a later window needs, at most ``len(keys)`` rows."""
        next_use = evaluation.next_use()
        self.entries = {k: e for k, e in self.entries.items() if k[0] in next_use}
        wanted = [r for r in computed if keys[r][0] in next_use and keys[r] not in self.entries]
        room = max(len(keys) - len(self.entries), 0)
        if len(wanted) > room:  # the soonest needed first; evict held rows needed later than new ones
            held = sorted(self.entries, key=lambda k: next_use[k[0]])
            pool = sorted([(next_use[keys[r][0]], 1, r) for r in wanted]
                          + [(next_use[k[0]], 0, k) for k in held])[:len(keys)]
            keep_held = {item for _, kind, item in pool if kind == 0}
            self.entries = {k: e for k, e in self.entries.items() if k in keep_held}
            wanted = [item for _, kind, item in pool if kind == 1]
        for r in wanted:
            self.entries[keys[r]] = _Entry(
                x[r].clone(), t[r].clone(), context[r].clone(),
                {name: [None if v is None else v[r].clone() for v in tensors] for name, tensors in out.items()})
        self.peak_frames = max(self.peak_frames, len(self.entries))

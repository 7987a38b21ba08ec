"""One whole-video model evaluation of the fusion sampler: the windows still to come, and what may be reused.

The fusion sampler's context handler runs the model window by window for one evaluation of the whole video
(one ``calc_cond_batch``: one sampler step, or one stage of a multi-stage step such as heun's).  Within it every
frame's input is the same in every window, so per-frame results that depend only on that input (the DensePose
ControlNet's residuals) can be reused by a later window of the same evaluation.  The handler opens a
:class:`VideoEvaluation` in ``transformer_options`` (``call_options.open_evaluation``), announces the frames of each
model call before running it (:meth:`VideoEvaluation.begin_call`, a call may hold several windows) and removes it
afterwards, so nothing stored in it outlives the evaluation: a new evaluation never sees an older one's results.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class VideoEvaluation:
    """The windows of one whole-video evaluation and a store for per-frame results reused within it."""

    def __init__(self, windows: Sequence[Sequence[int]]):
        self.windows = [tuple(int(f) for f in w) for w in windows]
        self.started = 0  # windows handed to model calls so far
        self.stores: dict[Any, Any] = {}

    def begin_call(self, windows: int = 1) -> None:
        """The next model call covers the next ``windows`` windows of :attr:`windows`."""
        self.started = min(self.started + windows, len(self.windows))

    def next_use(self) -> dict[int, int]:
        """For each frame a later window needs: the number of the first such window (smaller = sooner)."""
        first: dict[int, int] = {}
        for number, window in enumerate(self.windows[self.started:]):
            for frame in window:
                first.setdefault(frame, number)
        return first

    def store(self, key: Any, factory) -> Any:
        """The evaluation's store under ``key`` (made by ``factory()`` the first time)."""
        if key not in self.stores:
            self.stores[key] = factory()
        return self.stores[key]


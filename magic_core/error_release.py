"""Let a failed run's model clones go at once, so ComfyUI does not report them as leaked models.

ComfyUI's executor keeps a failed node's traceback in a reference cycle (its frame holds the traceback, the
traceback holds the frame), so everything the failed run's frames referenced lives until the cyclic garbage
collector runs.  That collector frees a chain of ModelPatcher clones in one batch; ComfyUI hands a loaded model
from a dying clone to its parent through a weak reference that is already cleared in such a batch, and later
logs "WARNING, memory leak with model ..." for every prompt (seen on 0.33.0 after every error, on 0.3.75 at
times).  Clearing the finished frames of the traceback frees those clones by reference counting, in order,
exactly as after a good run.  The error, its message and its traceback text are unchanged.
"""
from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator


@contextlib.contextmanager
def release_clones_on_error() -> Iterator[None]:
    """On any exception (errors and interrupts), drop the locals of the traceback's finished (stack) frames, so the
    run's model clones go by reference count, then re-raise."""
    try:
        yield
    except BaseException as err:
        traceback.clear_frames(err.__traceback__)
        raise

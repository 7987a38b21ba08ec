"""Window schedules and fuse weights of the fusion sampler (pure Python, no model)."""
from __future__ import annotations

import pytest
import torch

from magic_core.fusion.weights import window_weights
from magic_core.fusion.windows import FUSE_METHODS, FusionSettings, context_windows, static_windows


def r(start: int, stop: int, step: int = 1) -> list[int]:
    return list(range(start, stop, step))


# The original's `uniform` schedule at step 0, written out by hand from its definition:
# starts 0, (L-O), 2(L-O), ... while j < N (closed) / j < N - O (open); frames j..j+L-1 modulo N; stride s adds
# passes with frame step 2, 4, ... (advance L*step - O), s capped at ceil(log2(N/L)) + 1.
# (frames, context, stride, overlap, closed_loop) -> windows
UNIFORM_TABLE = {
    (1, 16, 1, 4, True): [[0]],
    (1, 16, 3, 4, False): [[0]],
    (15, 16, 1, 4, True): [r(0, 15)],
    (16, 16, 1, 4, True): [r(0, 16)],
    (16, 16, 2, 4, False): [r(0, 16)],
    (17, 16, 1, 4, True): [r(0, 16), r(12, 17) + r(0, 11)],
    (17, 16, 1, 4, False): [r(0, 16), r(12, 17) + r(0, 11)],
    # stride 4 is capped at 2 passes for 17 frames; the dilated window runs 0, 2, ..., 30 modulo 17
    (17, 16, 4, 4, True): [r(0, 16), r(12, 17) + r(0, 11), r(0, 17, 2) + r(1, 14, 2)],
    (17, 16, 4, 4, False): [r(0, 16), r(12, 17) + r(0, 11), r(0, 17, 2) + r(1, 14, 2)],
    (40, 16, 1, 4, True): [r(0, 16), r(12, 28), r(24, 40), r(36, 40) + r(0, 12)],
    (40, 16, 1, 4, False): [r(0, 16), r(12, 28), r(24, 40)],
    (40, 16, 1, 0, True): [r(0, 16), r(16, 32), r(32, 40) + r(0, 8)],
    (40, 16, 1, 0, False): [r(0, 16), r(16, 32), r(32, 40) + r(0, 8)],
    (40, 16, 2, 4, True): [r(0, 16), r(12, 28), r(24, 40), r(36, 40) + r(0, 12),
                           r(0, 32, 2), r(28, 40, 2) + r(0, 20, 2)],
    (40, 16, 2, 4, False): [r(0, 16), r(12, 28), r(24, 40), r(0, 32, 2), r(28, 40, 2) + r(0, 20, 2)],
    (20, 8, 1, 2, True): [r(0, 8), r(6, 14), r(12, 20), r(18, 20) + r(0, 6)],
    (20, 8, 1, 2, False): [r(0, 8), r(6, 14), r(12, 20)],
    (100, 16, 1, 4, True): [r(j, j + 16) for j in range(0, 96, 12)] + [r(96, 100) + r(0, 12)],
    (100, 16, 1, 4, False): [r(j, j + 16) for j in range(0, 96, 12)],
    (100, 16, 3, 4, True): ([r(j, j + 16) for j in range(0, 96, 12)] + [r(96, 100) + r(0, 12)]
                            + [r(0, 32, 2), r(28, 60, 2), r(56, 88, 2), r(84, 100, 2) + r(0, 16, 2)]
                            + [r(0, 64, 4), r(60, 100, 4) + r(0, 24, 4)]),
    (100, 16, 3, 4, False): ([r(j, j + 16) for j in range(0, 96, 12)]
                             + [r(0, 32, 2), r(28, 60, 2), r(56, 88, 2), r(84, 100, 2) + r(0, 16, 2)]
                             + [r(0, 64, 4), r(60, 100, 4) + r(0, 24, 4)]),
}


@pytest.mark.parametrize("key", list(UNIFORM_TABLE), ids=lambda k: "N{}-L{}-s{}-O{}-{}".format(
    *k[:4], "closed" if k[4] else "open"))
def test_uniform_windows_equal_the_original_table(key):
    frames, context, stride, overlap, closed = key
    settings = FusionSettings(context, overlap, stride, closed, "uniform")
    for step in (0, 1, 7, 24):  # the original evaluates its schedule at step 0 for every step
        assert context_windows(frames, settings, step) == UNIFORM_TABLE[key]


def test_static_windows_table():
    assert static_windows(40, 16, 4) == [r(0, 16), r(12, 28), r(24, 40)]
    assert static_windows(30, 16, 4) == [r(0, 16), r(12, 28), r(14, 30)]
    assert static_windows(17, 16, 4) == [r(0, 16), r(1, 17)]
    assert static_windows(16, 16, 4) == [r(0, 16)]


@pytest.mark.parametrize("schedule", ["uniform", "uniform_shifting", "static"])
@pytest.mark.parametrize("frames", [1, 2, 15, 16, 17, 23, 40, 100])
@pytest.mark.parametrize("context,overlap", [(16, 4), (8, 0), (8, 7), (4, 2)])
@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("closed", [True, False])
def test_every_frame_covered_every_step(schedule, frames, context, overlap, stride, closed):
    settings = FusionSettings(context, overlap, stride, closed, schedule)
    for step in range(6):
        windows = context_windows(frames, settings, step)
        assert set().union(*map(set, windows)) == set(range(frames))
        assert all(len(w) == min(frames, context) for w in windows)
        assert all(0 <= f < frames for w in windows for f in w)


def test_uniform_shifting_moves_windows_between_steps():
    settings = FusionSettings(16, 4, 1, True, "uniform_shifting")
    assert context_windows(40, settings, 0) == UNIFORM_TABLE[(40, 16, 1, 4, True)]
    # ordered halving: step 1 shifts by round(40 * 1/2) = 20 frames, step 2 by round(40 * 1/4) = 10
    assert context_windows(40, settings, 1) == [r(20, 36), r(32, 40) + r(0, 8), r(4, 20), r(16, 32)]
    assert context_windows(40, settings, 2)[0] == r(10, 26)


@pytest.mark.parametrize("kwargs, words", [
    (dict(context_frames=16, context_overlap=16), ["context_overlap", "16", "smaller than the window"]),
    (dict(context_frames=8, context_overlap=-1), ["context_overlap", "-1"]),
    (dict(context_frames=0, context_overlap=0), ["context_frames", "0"]),
    (dict(context_stride=0), ["context_stride", "0"]),
    (dict(schedule="looped"), ["schedule", "looped", "uniform"]),
    (dict(fuse_method="relative"), ["fuse_method", "relative", "pyramid"]),
])
def test_bad_settings_name_input_value_and_fix(kwargs, words):
    with pytest.raises(ValueError) as err:
        FusionSettings(**kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_zero_frames_is_a_clear_error():
    with pytest.raises(ValueError, match="0 frames"):
        context_windows(0, FusionSettings(), 0)


def test_fuse_weights():
    assert window_weights("flat", r(0, 16), 40, 4).tolist() == [1.0] * 16
    assert window_weights("pyramid", r(0, 16), 40, 4).tolist() == [float(w) for w in r(1, 9) + r(8, 0, -1)]
    assert window_weights("pyramid", r(0, 5), 40, 4).tolist() == [1.0, 2.0, 3.0, 2.0, 1.0]
    ramp = [0.2, 0.4, 0.6, 0.8]
    first, middle, last = r(0, 16), r(12, 28), r(24, 40)
    assert window_weights("overlap_linear", first, 40, 4).tolist() == pytest.approx([1.0] * 12 + ramp[::-1])
    assert window_weights("overlap_linear", middle, 40, 4).tolist() == pytest.approx(ramp + [1.0] * 8 + ramp[::-1])
    assert window_weights("overlap_linear", last, 40, 4).tolist() == pytest.approx(ramp + [1.0] * 12)
    gauss = window_weights("gaussian", r(0, 16), 40, 4)
    assert torch.allclose(gauss, gauss.flip(0)) and gauss.argmax() in (7, 8) and gauss.min() > 0.1
    for method in FUSE_METHODS:
        assert (window_weights(method, r(36, 40) + r(0, 12), 40, 4) > 0).all()

"""Align Motion's ``retarget``: the driver redrawn part by part with the reference's proportions. Figures of known
proportions come from the synthetic renderer: the driver with some limb lengths and widths, the reference with
others; the truth is the reference's body in the driver's pose (same motion and seed), which the retargeted frames
are measured against (lengths and widths), while the joint angles are measured against the driver's."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from harness.retarget_figures import overlaps_another_part, retarget_figures
from scipy import ndimage

from magic_core.motion import align_motion, decode_labels, render_labels
from magic_core.motion.body_parts import PARTS
from magic_core.notices import NoticeBoard

pytestmark = pytest.mark.slow  # three 8-frame retargets at 288 px (about 10 s each on a quiet core)

def measure(labels: np.ndarray, ids: tuple[int, ...]) -> tuple[float, float, float] | None:
    """(length, width, axis angle in degrees mod 180) of a part: its pixels' principal axes (sqrt(12) sigma)."""
    ys, xs = np.nonzero(np.isin(labels, ids))
    if xs.size < 30:
        return None
    points = np.stack([xs, ys], 1) + 0.5
    values, vectors = np.linalg.eigh(np.cov(points.T, bias=True))
    return (float(np.sqrt(12 * values[1])), float(np.sqrt(12 * values[0])),
            float(np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1])) % 180))


def enclosed_holes(labels: np.ndarray) -> list[int]:
    """Sizes of background regions that do not reach the canvas edge."""
    regions, count = ndimage.label(labels == 0)
    edge = set(np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])))
    return [int((regions == i).sum()) for i in range(1, count + 1) if i not in edge]


@pytest.fixture(scope="module", params=[("walk", 3), ("walk", 0), ("wave", 1)])
def retargeted(request):
    motion, seed = request.param
    driver, truth, photo = retarget_figures(motion, seed)
    board = NoticeBoard()
    out = align_motion(render_labels(driver), render_labels(photo), mode="retarget", notices=board)
    return motion, driver.numpy(), truth.numpy(), out, board


def worst_errors(motion: str, driver: np.ndarray, truth: np.ndarray, out: torch.Tensor) -> dict[str, float]:
    """The largest relative length and width errors (against the truth) and angle errors (degrees, against the
    driver) over all parts in full view in every frame (and how many were measured)."""
    labels = decode_labels(out).long().numpy()
    worst = {"length": 0.0, "width": 0.0, "angle": 0.0, "measured": 0}
    for f in range(labels.shape[0]):
        for name, (ids, _) in PARTS.items():
            got, want, drv = measure(labels[f], ids), measure(truth[f], ids), measure(driver[f], ids)
            if got is None or want is None or drv is None:
                continue
            if any(overlaps_another_part(x, name) for x in (labels[f], truth[f], driver[f])):
                continue
            worst["angle"] = max(worst["angle"], abs((got[2] - drv[2] + 90) % 180 - 90))
            # The wave's raised forearm is drawn foreshortened (its 2D length changes with the wave): a length
            # no 2D measurement can tell from proportions, so only the walk's parts are held to the lengths.
            if motion == "wave":
                continue
            worst["measured"] += 1
            worst["length"] = max(worst["length"], abs(got[0] / want[0] - 1))
            worst["width"] = max(worst["width"], abs(got[1] / want[1] - 1))
    return worst


@pytest.fixture(scope="module")
def errors(retargeted):
    motion, driver, truth, out, _ = retargeted
    worst = worst_errors(motion, driver, truth, out)
    print(motion, worst)
    assert motion == "wave" or worst["measured"] >= 40
    return {**worst, "motion": motion}


def test_parts_take_the_reference_proportions_and_keep_the_driver_angles(errors):
    """What retarget achieves today (measured: lengths within 7.8 %, widths within 11.8 %, angles within 3.7
    degrees; the widths' worst are the 6-pixel-wide hands, the lengths' the upper arms, whose visible length
    depends on how much the forearm covers at the elbow)."""
    assert errors["length"] <= 0.08 and errors["width"] <= 0.12 and errors["angle"] <= 4.0, errors


@pytest.mark.xfail(strict=True, reason="issue 26's target (5 %, 5 %, 3 degrees) is not met yet: see the test above")
def test_parts_within_the_issues_tolerances(errors):
    if errors["motion"] == "wave":
        pytest.skip("the wave's lengths are not measured (foreshortened forearm)")
    assert errors["length"] <= 0.05 and errors["width"] <= 0.05 and errors["angle"] <= 3.0, errors


def test_no_hole_inside_the_figure_and_exact_palette_colours(retargeted):
    _, driver, _, out, board = retargeted
    labels = decode_labels(out).long()
    assert torch.equal(out, render_labels(labels))
    checked = 0
    for frame, drv in zip(labels.numpy(), driver, strict=True):
        if max(enclosed_holes(drv), default=0) <= 1:   # the driver's own holes (legs crossing) may stay
            checked += 1
            assert max(enclosed_holes(frame), default=0) <= 1, enclosed_holes(frame)
    assert checked >= 2
    assert "retarget redrew 8 frames" in board.text

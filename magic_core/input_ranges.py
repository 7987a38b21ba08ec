"""Value ranges shared by the nodes' schemas and magic_core's own checks, so both say the same thing."""
from __future__ import annotations

from .errors import MagicAnimateError

APPEARANCE_STRENGTH_MAX = 2.0  # 1.0 = the original; above it the reference counts more than the frame itself


def percent_range_problem(start_percent: float | None, end_percent: float | None) -> str | None:
    """What is wrong with a (start_percent, end_percent) pair, or None when it is usable (or not yet known)."""
    if start_percent is None or end_percent is None:
        return None  # a linked input: checked again when the node runs
    if not 0.0 <= start_percent <= end_percent <= 1.0:
        return (f"start_percent {start_percent} / end_percent {end_percent}: set 0 <= start_percent <= "
                f"end_percent <= 1 (0 / 1 apply it over the whole sampling).")
    return None


def check_percent_range(start_percent: float, end_percent: float, part: str) -> None:
    """Raise the one message for an unusable (start_percent, end_percent) pair of ``part``'s node."""
    problem = percent_range_problem(start_percent, end_percent)
    if problem:
        raise MagicAnimateError(f"MagicAnimate {part}: {problem}")

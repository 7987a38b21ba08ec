"""The pack's one error base class.

Every error raised by ``magic_core`` for something the user can fix (a wrong file, a bad input, a bad training
setting) is a :class:`MagicAnimateError`.  Its message follows one style: ``MagicAnimate <part>: <what is wrong,
with the value>; <the fix>.``, where ``<part>`` names the component or file kind (``fusion``, ``temporal
attention``, ``DensePose ControlNet``, ``training config``, ...).  It derives from ``ValueError`` so callers that
catch ``ValueError`` keep working.
"""
from __future__ import annotations


class MagicAnimateError(ValueError):
    """A problem the user can fix; the message names the part, what is wrong (with the value) and the fix."""

"""The pack's one error base class.

An error raised by ``magic_core`` for a value the user can fix (a wrong file, a bad input, a bad training setting)
is a :class:`MagicAnimateError` (or a subclass: ``CheckpointError``, ``ReferenceImageError``, ``ConfigError``,
``BadSampleError``).  Its message follows one style: ``MagicAnimate <part>: <what is wrong, with the value>; <the
fix>.``, where ``<part>`` names the component or file kind (``fusion``, ``temporal attention``, ``DensePose
ControlNet``, ``training config``, ...).  It derives from ``ValueError`` so callers that catch ``ValueError`` keep
working.  Two kinds keep Python's own class: a model file or training data folder that does not exist
(``FileNotFoundError``) and an input object of the wrong kind, e.g. a VAE where the appearance encoder goes
(``TypeError``); their messages also name the file or input and the fix.
"""
from __future__ import annotations


class MagicAnimateError(ValueError):
    """A problem the user can fix; the message names the part, what is wrong (with the value) and the fix."""

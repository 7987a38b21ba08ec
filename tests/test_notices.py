"""The notice board: a warning is logged at once, kept once for the node's UI text, and catalogued for the README."""
from __future__ import annotations

import logging

import pytest

from magic_core.notices import NOTICES, REFERENCE_BATCH, NoticeBoard, declare, warn


def test_board_logs_each_warning_and_keeps_it_once(caplog):
    board = NoticeBoard()
    with caplog.at_level(logging.WARNING):
        first = board.warn(REFERENCE_BATCH, count=3)
        board.warn(REFERENCE_BATCH, count=3)
    assert "holds 3 images" in first and board.messages == [first] and board.text == first
    assert caplog.text.count("holds 3 images") == 2


def test_warning_without_a_board_goes_to_the_log_only(caplog):
    with caplog.at_level(logging.WARNING):
        message = warn(None, REFERENCE_BATCH, count=2)
    assert message in caplog.text


def test_keys_are_unique_and_templates_name_their_part():
    with pytest.raises(ValueError, match="declared twice"):
        declare(REFERENCE_BATCH.key, "x", "y")
    assert all(n.template.startswith("MagicAnimate ") for n in NOTICES.values())

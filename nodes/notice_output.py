"""A node's outputs with its warnings shown in the node's UI text (the way core's text-preview nodes do it)."""
from __future__ import annotations

from typing import Any

from comfy_api.latest import io, ui

from ..magic_core.notices import NoticeBoard


def notice_output(*values: Any, board: NoticeBoard) -> io.NodeOutput:
    """``io.NodeOutput(*values)`` plus the board's warnings as UI text (no UI output when there are none)."""
    return io.NodeOutput(*values, ui=ui.PreviewText(board.text) if board.messages else None)

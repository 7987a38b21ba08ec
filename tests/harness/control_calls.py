"""A recorder of DensePose ControlNet forwards (rows, text context and the embedded hint of every call)."""
from __future__ import annotations

import torch

from .densepose_inputs import coded_hints


class ControlCalls:
    """Records every forward of a ControlNet model: batch rows, text context and the embedded hint that was
    added after its first input block (core's forward and the pack's cached-embedding forward alike)."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.calls: list[dict] = []
        self._handles = [module.input_blocks[0].register_forward_hook(self._first_block),
                         module.zero_convs[0].register_forward_pre_hook(self._first_zero_conv)]

    def _first_block(self, block, args, output):
        self.calls.append({"rows": args[0].shape[0], "context": args[2].detach().clone(),
                           "block_out": output.detach().clone()})

    def _first_zero_conv(self, conv, args):
        call = self.calls[-1]
        call["hint"] = args[0].detach() - call.pop("block_out")

    @property
    def rows(self) -> int:
        return sum(c["rows"] for c in self.calls)

    def hint_frames(self, embedded: torch.Tensor, frames: int) -> list[int]:
        """Which coded hint frame (see :func:`coded_hints`) each embedded hint row is."""
        with torch.no_grad():
            reference = self.module.input_hint_block(coded_hints(frames).movedim(-1, 1), None, None)
        distance = (embedded.unsqueeze(1) - reference.unsqueeze(0)).flatten(2).abs().amax(dim=2)
        assert float(distance.min(dim=1).values.max()) < 1e-4, "a hint row is no frame's embedding"
        return distance.argmin(dim=1).tolist()

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()

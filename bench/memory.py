"""Peak memory of the timed part of a run: process RSS high-water mark on CPU, allocated VRAM on CUDA."""
from __future__ import annotations

import re
import resource

import torch


def _vm_hwm_kib() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            match = re.search(r"^VmHWM:\s+(\d+)\s+kB", f.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


class PeakMemory:
    """``reset()`` before the measured part, ``peak_mib()`` after it."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.resettable = False

    def reset(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return
        try:  # Linux: writing 5 to clear_refs resets the RSS high-water mark (VmHWM) of this process
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
            self.resettable = _vm_hwm_kib() is not None
        except OSError:
            self.resettable = False

    def peak_mib(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        if self.resettable:
            return _vm_hwm_kib() / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # whole-process peak (Linux: KiB)

    def kind(self) -> str:
        if self.cuda:
            return "torch.cuda.max_memory_allocated"
        return "process peak RSS (VmHWM, reset before sampling)" if self.resettable else "process peak RSS (ru_maxrss)"

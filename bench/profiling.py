"""Where the pipeline's time goes: one sampling run under cProfile (Python components, by function) and
torch.profiler (operators by self CPU time, shares within the same run)."""
from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path

# (label, file suffix, function name): cumulative time of these functions, as a share of the run.
COMPONENTS = [
    ("denoising UNet forward (whole, incl. patches below)", "diffusionmodules/openaimodel.py", "_forward"),
    ("DensePose ControlNet forward (cldm)", "comfy/cldm/cldm.py", "forward"),
    ("FrameControlNet.get_control (incl. ControlNet forward)", "magic_core/densepose/control.py", "get_control"),
    ("core ControlNet.get_control (naive; incl. forward)", "comfy/controlnet.py", "get_control"),
    ("temporal modules (TemporalSlot forward)", "magic_core/temporal/patch.py", "temporal_slot_forward"),
    ("appearance encoder run (run_encoder)", "magic_core/appearance/reference.py", "run_encoder"),
    ("reference attention read patch", "magic_core/appearance/reference.py", "__call__"),
    ("cross-frame GroupNorm wrapper (hooks set-up + UNet)", "magic_core/temporal/groupnorm.py",
     "cross_frame_norm_wrapper"),
    ("cross-frame GroupNorm: cross_frame_norms() module walk", "magic_core/temporal/groupnorm.py", "cross_frame_norms"),
    ("DensePose residual reuse (store lookup, assembly, keep)", "magic_core/densepose/reuse.py", "forward"),
    ("frame contract: frame_layout", "magic_core/frame_contract.py", "frame_layout"),
    ("fusion: window conds (get_resized_cond)", "magic_core/fusion/context.py", "get_resized_cond"),
    ("fusion: context handler execute (all windows)", "magic_core/fusion/context.py", "execute"),
    ("attention kernels (sub-quadratic, CPU)", "ldm/modules/sub_quadratic_attention.py",
     "efficient_dot_product_attention"),
    ("attention kernels (PyTorch SDPA)", "ldm/modules/attention.py", "attention_pytorch"),
]


def profile_run(run: Callable[[], object], out_path: Path | None = None) -> dict:
    """Run ``run`` under cProfile; return wall time, component shares and the top functions by own time."""
    import torch.profiler

    profiler = cProfile.Profile()
    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as ops:
        profiler.enable()
        run()
        profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    if out_path is not None:
        stats.dump_stats(str(out_path))
    table = stats.stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    components = []
    for label, suffix, func in COMPONENTS:
        hits = [(v[3], v[1]) for (file, _, name), v in table.items()
                if name == func and file.replace("\\", "/").endswith(suffix)]
        if hits:
            cumulative, calls = max(hits)  # the outermost function of that name in that file
            components.append({"label": label, "where": f"{suffix}:{func}", "calls": calls,
                               "cumulative_s": cumulative, "share": cumulative / wall})
    top = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    functions = [{"where": f"{_short(file)}:{line}:{name}", "calls": v[1], "own_s": v[2], "cumulative_s": v[3]}
                 for (file, line, name), v in top]
    return {"wall_s": wall, "components": components, "top_own": functions, "operators": operators(ops)}


def operators(ops, top: int = 15) -> list[dict]:
    """torch operators by self CPU time (share of all operators' self time in the run)."""
    events = [e for e in ops.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [{"name": e.key, "calls": e.count, "self_s": e.self_cpu_time_total / 1e6,
             "share": e.self_cpu_time_total / total} for e in events[:top]]


def _short(file: str) -> str:
    parts = file.replace("\\", "/").split("/")
    return "/".join(parts[-3:]) if len(parts) > 3 else file

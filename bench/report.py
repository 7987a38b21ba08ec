"""The benchmark table, the targets (PASS/MISS) and BENCHMARKS.md."""
from __future__ import annotations

import math
from dataclasses import dataclass

ORDER = ("floor", "ksampler", "full", "naive")
LABELS = {
    "floor": "(1) floor: fusion sampler, plain UNet",
    "ksampler": "(1i) KSampler, plain UNet, no windows",
    "full": "(2) MagicAnimate pipeline (pack)",
    "naive": "(3) naive composition",
}
ABLATIONS = {
    "temporal_only": "floor + temporal attention (pack)",
    "control_only": "floor + DensePose ControlNet (pack)",
    "appearance_only": "floor + appearance encoder / reference attention (pack)",
}
WINDOW_BATCHES = {"full": 1, "full_wb2": 2, "full_wb4": 4}  # the full pipeline at each window_batch
NOTES_MARKER = "<!-- hand-written notes below this line are kept when the file is regenerated -->"

Results = dict[tuple[str, int], dict]  # (config, frames) -> the chosen measurement


@dataclass
class Target:
    name: str
    value: float | None
    limit: str
    ok: bool | None

    def verdict(self) -> str:
        return "n/a" if self.ok is None else ("PASS" if self.ok else "MISS")

    def shown(self) -> str:
        return "n/a" if self.value is None else f"{self.value:.3f}"


def _get(results: Results, config: str, frames: int, key: str) -> float | None:
    row = results.get((config, frames))
    value = None if row is None else row.get(key)
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def ratio(results: Results, top: str, bottom: str, frames: int, key: str = "s_per_frame_step") -> float | None:
    return _ratio(_get(results, top, frames, key), _get(results, bottom, frames, key))


def targets(results: Results) -> list[Target]:
    """The issue's four targets, evaluated on this run's numbers (n/a where the frames were not run)."""
    full_floor = ratio(results, "full", "floor", 32)
    naive_full = ratio(results, "naive", "full", 32)
    memory = _ratio(_get(results, "full", 128, "peak_mib"), _get(results, "full", 16, "peak_mib"))
    t32 = _get(results, "full", 32, "s_per_frame_step")
    spread = None
    if t32 is not None and _get(results, "full", 128, "s_per_frame_step") is not None:
        others = [_get(results, "full", f, "s_per_frame_step") for f in (64, 128)]
        spread = max(abs(t / t32 - 1.0) for t in others if t is not None)
    return [
        Target("full ÷ floor at 32 frames (time per frame-step)", full_floor, "≤ 1.45",
               None if full_floor is None else full_floor <= 1.45),
        Target("naive ÷ full at 32 frames (time per frame-step)", naive_full, "≥ 1.3",
               None if naive_full is None else naive_full >= 1.3),
        Target("full pipeline peak memory 128 ÷ 16 frames", memory, "≤ 1.25",
               None if memory is None else memory <= 1.25),
        Target("full pipeline time per frame, largest deviation of 64/128 from 32 frames", spread, "≤ 0.15",
               None if spread is None else spread <= 0.15),
    ]


def table(results: Results, frames: list[int], memory_unit: str) -> str:
    """Markdown: one row per frame count and configuration, then the ratios per frame count."""
    lines = [f"| frames | configuration | s / frame-step | peak memory, whole run (MiB, {memory_unit}) | "
             f"of which before the decode (MiB) | total s |",
             "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for f in frames:
        for config in ORDER:
            row = results.get((config, f))
            if row is None:
                continue
            if "error" in row:
                lines.append(f"| {f} | {LABELS[config]} | ERROR | ERROR | ERROR | {row['error'][:60]} |")
                continue
            before = row.get("peak_sampling_mib")
            lines.append(f"| {f} | {LABELS[config]} | {row['s_per_frame_step']:.4f} | {row['peak_mib']:.0f} | "
                         f"{'n/a' if before is None else f'{before:.0f}'} | {row['seconds']:.2f} |")
    lines += ["", "| frames | full ÷ floor (2/1) | naive ÷ full (3/2) | full ÷ KSampler | peak full ÷ peak floor |",
              "| ---: | ---: | ---: | ---: | ---: |"]
    for f in frames:
        cells = [ratio(results, "full", "floor", f), ratio(results, "naive", "full", f),
                 ratio(results, "full", "ksampler", f), ratio(results, "full", "floor", f, "peak_mib")]
        lines.append(f"| {f} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def targets_table(found: list[Target]) -> str:
    lines = ["| target | value | limit | result |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {t.name} | {t.shown()} | {t.limit} | **{t.verdict()}** |" for t in found]
    return "\n".join(lines)


def profile_table(profile: dict) -> str:
    lines = [f"cProfile of one full-pipeline run (wall {profile['wall_s']:.2f} s under the profiler):", "",
             "| component | where | calls | cumulative s | share of run |", "| --- | --- | ---: | ---: | ---: |"]
    for c in profile["components"]:
        lines.append(f"| {c['label']} | `{c['where']}` | {c['calls']} | {c['cumulative_s']:.3f} | "
                     f"{100 * c['share']:.1f}% |")
    lines += ["", "Top functions by own time:", "", "| function | calls | own s | cumulative s |",
              "| --- | ---: | ---: | ---: |"]
    for f in profile["top_own"]:
        lines.append(f"| `{f['where']}` | {f['calls']} | {f['own_s']:.3f} | {f['cumulative_s']:.3f} |")
    if profile.get("operators"):
        lines += ["", "torch.profiler, same run: operators by self CPU time (share of all operators' self time):", "",
                  "| operator | calls | self s | share |", "| --- | ---: | ---: | ---: |"]
        for o in profile["operators"]:
            lines.append(f"| `{o['name']}` | {o['calls']} | {o['self_s']:.3f} | {100 * o['share']:.1f}% |")
    return "\n".join(lines)


def ablation_table(results: Results, frames: int) -> str:
    """Each MagicAnimate part alone on the floor, measured like the main table (what each part adds)."""
    floor_t = _get(results, "floor", frames, "s_per_frame_step")
    lines = [f"Each part alone on top of the floor, {frames} frames (same settings and measurement as above):", "",
             "| configuration | s / frame-step | ÷ floor | added share of floor |", "| --- | ---: | ---: | ---: |"]
    for config in ("floor", *ABLATIONS, "full"):
        t = _get(results, config, frames, "s_per_frame_step")
        if t is None:
            continue
        label = ABLATIONS.get(config) or LABELS[config]
        r = _ratio(t, floor_t)
        shown = "n/a" if r is None else f"{r:.3f}"
        added = "n/a" if r is None else f"{100 * (r - 1):+.1f}%"
        lines.append(f"| {label} | {t:.4f} | {shown} | {added} |")
    return "\n".join(lines)


def window_batch_table(results: Results, frames: int) -> str:
    """The full pipeline with 1, 2 and 4 windows per model call, measured like the main table."""
    base_t = _get(results, "full", frames, "s_per_frame_step")
    base_m = _get(results, "full", frames, "peak_mib")
    lines = [f"The full pipeline with `window_batch` 1, 2 and 4, {frames} frames (same settings and measurement as "
             f"above):", "",
             "| window_batch | s / frame-step | time ÷ window_batch 1 | peak memory (MiB) | memory ÷ window_batch 1 |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for config, batch in WINDOW_BATCHES.items():
        t, m = _get(results, config, frames, "s_per_frame_step"), _get(results, config, frames, "peak_mib")
        if t is None or m is None:
            continue
        rt, rm = _ratio(t, base_t), _ratio(m, base_m)
        lines.append(f"| {batch} | {t:.4f} | {'n/a' if rt is None else f'{rt:.3f}'} | {m:.0f} | "
                     f"{'n/a' if rm is None else f'{rm:.3f}'} |")
    return "\n".join(lines)

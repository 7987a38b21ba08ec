"""The benchmark harness runs end to end at the smallest size and reports every configuration with finite numbers.

Timings are not asserted here (figures belong in BENCHMARKS.md, not in tests).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from harness.paths import REPO

CONFIGS = ("floor", "ksampler", "full", "naive")


@pytest.mark.slow
def test_bench_table_has_every_configuration_with_finite_numbers(tmp_path):
    # --in-process: one process for all measurements (seconds, not minutes); the default mode runs each
    # measurement in a fresh process through the same measure() function.
    output, raw = tmp_path / "BENCH.md", tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--size", "tiny", "--frames", "4", "8", "--steps", "1",
         "--warmup-steps", "0", "--repeats", "1", "--worker-repeats", "1", "--profile-frames", "8",
         "--ablation-frames", "0",
         "--window-batch-frames", "0", "--in-process", "--output", str(output), "--json", str(raw)],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    best = json.loads(raw.read_text())["best"]
    assert {(r["config"], r["frames"]) for r in best} == {(c, f) for c in CONFIGS for f in (4, 8)}
    for row in best:
        assert "error" not in row, row
        for key in ("seconds", "s_per_frame_step", "peak_mib"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        assert row["finite"], row  # the sampled latents are finite
    text = output.read_text()
    for label in ("(1) floor", "(1i) KSampler", "(2) MagicAnimate pipeline", "(3) naive composition"):
        assert text.count(label) == 2, label  # one row per frame count
    assert "## Targets" in text and "## Profile (full pipeline)" in text and "Command:" in text
    assert "nan" not in text.lower().replace("n/a", "")


def test_bench_window_batch_row(tmp_path):
    # Only the window_batch row (and the one floor measurement --frames needs), 40 frames: 4 windows per step.
    output, raw = tmp_path / "BENCH.md", tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--size", "tiny", "--frames", "4", "--configs", "floor",
         "--steps", "1", "--warmup-steps", "0", "--repeats", "1", "--worker-repeats", "1", "--profile-frames", "0",
         "--ablation-frames", "0", "--window-batch-frames", "40", "--in-process", "--output", str(output),
         "--json", str(raw)],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    best = {(r["config"], r["frames"]): r for r in json.loads(raw.read_text())["best"]}
    for config in ("full", "full_wb2", "full_wb4"):
        row = best[(config, 40)]
        assert "error" not in row and row["finite"] and math.isfinite(row["s_per_frame_step"]), row
    section = output.read_text().split("## Windows per model call (window_batch)", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r[0].strip() for r in rows[1:]] == ["1", "2", "4"]
    assert rows[1][2].strip() == "1.000" and all(float(r[2]) > 0 for r in rows[1:])


def test_flop_count_includes_cpu_sdpa_as_its_explicit_matmuls():
    # The CPU flash kernel is not in torch's FLOP registry; bench/flops.py adds it. Independent reference: the
    # same attention written as two matmuls, which the registry counts itself.
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(REPO))
    from bench.flops import _sdpa_cpu_flops

    q, k, v = torch.randn(2, 8, 64, 16), torch.randn(2, 8, 96, 16), torch.randn(2, 8, 96, 24)
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as fused:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    with FlopCounterMode(display=False) as explicit:
        torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1) @ v
    assert explicit.get_total_flops() > 0
    assert fused.get_total_flops() == explicit.get_total_flops()


@pytest.mark.slow
def test_flops_of_the_full_pipeline_exceed_each_part_alone():
    sys.path.insert(0, str(REPO))
    from bench.flops import count

    found = {c: count(c, "tiny", 20) for c in ("floor", "temporal_only", "control_only", "appearance_only", "full")}
    totals = {c: f.total for c, f in found.items()}
    parts = [totals[c] - totals["floor"] for c in ("temporal_only", "control_only", "appearance_only")]
    assert all(p > 0 for p in parts), totals
    # the parts add up: the full pipeline is the floor plus each part's arithmetic (they share nothing else)
    assert math.isclose(totals["full"], totals["floor"] + sum(parts), rel_tol=0.02), totals
    # per-run work (the DensePose hint embeddings, once per frame and run) is not counted per step
    assert found["control_only"].per_run > 0 and found["floor"].per_run == 0
    assert all(0 < f.attention < f.total for f in found.values())


def _row(config: str, frames: int, seconds: float, peak: float) -> dict:
    steps = 2
    return {"config": config, "frames": frames, "steps": steps, "seconds": seconds, "peak_mib": peak,
            "peak_sampling_mib": peak - 1, "s_per_frame_step": seconds / (frames * steps), "finite": True}


def test_merge_keeps_the_fastest_of_each_row_over_runs_and_the_largest_peak(tmp_path):
    # Two runs of the same rows under different load: the merged table and targets use the fastest of each.
    first = {"raw": [_row("floor", 32, 100.0, 900), _row("full", 32, 150.0, 1000), _row("naive", 32, 300.0, 1100)]}
    second = {"raw": [_row("floor", 32, 60.0, 950), _row("full", 32, 160.0, 990), _row("naive", 32, 250.0, 1000)]}
    paths = []
    for i, data in enumerate((first, second)):
        paths.append(tmp_path / f"run{i}.json")
        paths[-1].write_text(json.dumps(data))
    output = tmp_path / "BENCH.md"
    sys.path.insert(0, str(REPO))
    from bench.run import main

    assert main(["--frames", "32", "--configs", "floor", "full", "naive", "--steps", "2", "--ablation-frames", "0",
                 "--window-batch-frames", "0", "--profile-frames", "0", "--output", str(output),
                 "--merge", *map(str, paths)]) == 0
    text = output.read_text()
    assert "Merged from the raw measurements of 2 runs (run0.json, run1.json" in text
    targets = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in text.splitlines()
               if line.startswith("| full ÷ floor at 32") or line.startswith("| naive ÷ full at 32")}
    assert targets["full ÷ floor at 32 frames (time per frame-step)"] == f"{150 / 60:.3f}"
    assert targets["naive ÷ full at 32 frames (time per frame-step)"] == f"{250 / 150:.3f}"
    floor_row = next(line for line in text.splitlines() if line.startswith("| 32 | (1) floor"))
    assert "| 950 |" in floor_row  # the largest peak of the two runs

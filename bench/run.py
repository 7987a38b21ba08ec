"""Benchmark the MagicAnimate pack: floor, full pipeline and naive composition, side by side, in one run.

    python3 scripts/host.py run -- python bench/run.py [--device cpu|cuda] [--frames 16 32 64 128]

Every (configuration, frame count) is measured in a fresh process (its own peak memory; ``--in-process``: one
after another in this one), interleaved and repeated; the fastest repeat counts.  Then the full pipeline is
profiled, each part is timed alone and ``window_batch`` is measured (``--*-frames 0`` skips them).  Prints the
table and the targets and writes BENCHMARKS.md; ``--json`` also keeps every raw measurement, ``--merge`` measures
nothing and renders from earlier ``--json`` files.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import (  # noqa: E402
    ABLATIONS,
    NOTES_MARKER,
    ORDER,
    WINDOW_BATCHES,
    ablation_table,
    profile_table,
    table,
    targets,
    targets_table,
    window_batch_table,
)
from bench.sizes import SIZES  # noqa: E402
from bench.worker import RESULT_PREFIX  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "bench" / "worker.py"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--size", choices=sorted(SIZES), help="default: cpu on CPU, sd15 (fp16, 512x512) on CUDA")
    parser.add_argument("--steps", type=int, default=4, help="timed sampling steps (default 4)")
    parser.add_argument("--warmup-steps", type=int, default=1, help="untimed steps on the same video first")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved process repeats; the fastest counts")
    parser.add_argument("--worker-repeats", type=int, default=1, help="timed runs per process; the fastest counts")
    parser.add_argument("--configs", nargs="+", choices=ORDER, default=list(ORDER))
    parser.add_argument("--profile-frames", type=int, default=32, help="profile the full pipeline (0 = skip)")
    parser.add_argument("--ablation-frames", type=int, default=32, help="time each part alone (0 = skip)")
    parser.add_argument("--window-batch-frames", type=int, default=64,
                        help="time the full pipeline with window_batch 1, 2, 4 at this many frames (0 = skip)")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"), help="markdown file ('' = don't write)")
    parser.add_argument("--threads", type=int, default=-1,
                        help="torch intra-op threads per measurement (default: 1 on CPU, where a shared machine's "
                             "contention stalls multi-thread barriers; torch's default on CUDA; 0 = torch's default)")
    parser.add_argument("--in-process", action="store_true",
                        help="measure in this process, one after another (quick checks; peak memory then includes "
                             "what earlier measurements left resident)")
    parser.add_argument("--json", default="", help="also write every raw measurement to this JSON file")
    parser.add_argument("--merge", nargs="+", default=[], metavar="JSON",
                        help="measure nothing: render from these earlier --json files, the fastest of each "
                             "(configuration, frames) over all of them (pass the same --frames / --*-frames)")
    args = parser.parse_args(argv)
    args.size = args.size or ("sd15" if args.device == "cuda" else "cpu")
    if args.threads < 0:
        args.threads = 1 if args.device == "cpu" else 0
    return args


def run_worker(args: argparse.Namespace, config: str, frames: int, profile: bool = False) -> dict:
    """One measurement in a fresh process (or in this one with ``--in-process``); ``{"error": ...}`` on failure."""
    if args.in_process:
        return _in_process(args, config, frames, profile)
    cmd = [sys.executable, str(WORKER), "--config", config, "--frames", str(frames), "--steps", str(args.steps),
           "--size", args.size, "--device", args.device, "--warmup-steps", str(args.warmup_steps),
           "--repeats", str(args.worker_repeats), "--threads", str(args.threads)]
    if profile:
        cmd.append("--profile")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"config": config, "frames": frames, "error": f"exit {proc.returncode}: {tail[0]}"}


def _in_process(args: argparse.Namespace, config: str, frames: int, profile: bool) -> dict:
    from bench.env import setup
    from bench.worker import measure

    setup(args.device)
    worker_args = argparse.Namespace(config=config, frames=frames, steps=args.steps, size=args.size,
                                     device=args.device, warmup_steps=args.warmup_steps, threads=args.threads,
                                     repeats=args.worker_repeats, profile=profile,
                                     decode="batched")
    try:
        return measure(worker_args)
    except Exception as exc:  # noqa: BLE001 - reported in the table like a failed worker process
        return {"config": config, "frames": frames, "error": f"{type(exc).__name__}: {exc}"}


def measure_all(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Interleaved repeats; keeps the fastest repeat per (config, frames) and the largest peak memory seen."""
    best: dict = {}
    raw: list[dict] = []
    plan = [(f, c) for f in args.frames for c in args.configs]
    if args.ablation_frames > 0:
        plan += [(args.ablation_frames, c) for c in ABLATIONS]
        plan += [(args.ablation_frames, c) for c in ("floor", "full") if (args.ablation_frames, c) not in plan]
    if args.window_batch_frames > 0:
        plan += [(args.window_batch_frames, c) for c in WINDOW_BATCHES if (args.window_batch_frames, c) not in plan]
    for repeat in range(args.repeats):
        for frames, config in plan:
            row = run_worker(args, config, frames)
            raw.append({**row, "repeat": repeat})
            shown = row.get("error") or f"{row['s_per_frame_step']:.4f} s/frame-step, {row['peak_mib']:.0f} MiB"
            print(f"[bench] repeat {repeat + 1}/{args.repeats} frames {frames:4d} {config:15s} {shown}", flush=True)
            keep_best(best, row)
    return best, raw


def keep_best(best: dict, row: dict) -> None:
    """Keep the fastest measurement of ``row``'s (config, frames) in ``best``, with the largest peak memory seen."""
    key = (row["config"], row["frames"])
    old = best.get(key)
    if old is None or "error" in old:
        best[key] = row
    elif "error" not in row:
        peak = max(old["peak_mib"], row["peak_mib"])
        best[key] = dict(row if row["seconds"] < old["seconds"] else old, peak_mib=peak)


def merged(paths: list[str]) -> tuple[dict, list[dict], dict | None]:
    """The raw measurements of earlier ``--json`` files, combined by the same rule as repeats of one run."""
    best: dict = {}
    raw: list[dict] = []
    profile = None
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for row in data["raw"]:
            raw.append({**row, "file": Path(path).name})
            keep_best(best, row)
        profile = profile or data.get("profile")
    return best, raw, profile


def merged_loads(paths: list[str]) -> str:
    """Each merged run's load average before → after, as recorded in its file."""
    parts = []
    for path in paths:
        meta = json.loads(Path(path).read_text(encoding="utf-8")).get("meta")
        shown = f"{meta['load_before']} → {meta['load_after']}" if meta else "not recorded in the file"
        parts.append(f"{Path(path).name}: {shown}")
    return "; ".join(parts)


def machine() -> str:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (f"{cpu}, {cores} cores available ({os.cpu_count()} logical CPUs), {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, ComfyUI {comfy_version()}, "
            f"{platform.platform()}")


def comfy_version() -> str:
    path = Path(os.environ.get("COMFYUI_PATH", "")) / "comfyui_version.py"
    try:
        return path.read_text().split("=", 1)[1].strip().strip("\"'")
    except (OSError, IndexError):
        return "unknown"


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def document(args: argparse.Namespace, results: dict, profile: dict | None, load_before: str,
             load_after: str | None) -> str:
    """The markdown of BENCHMARKS.md (hand-written notes after the marker are appended by ``write``)."""
    size = SIZES[args.size]
    unit = "torch.cuda.max_memory_allocated" if args.device == "cuda" else "process peak RSS"
    command = "python3 scripts/host.py run -- python bench/run.py " + " ".join(sys.argv[1:])
    found = targets(results)
    loads = (f"load average (1/5/15 min) before {load_before}, after {load_after}" if load_after is not None else
             f"load average (1/5/15 min) of the merged runs, before → after: {load_before}")
    process_line = ("In-process mode: all measurements ran in one process (peak memory not separated)."
                    if args.in_process else
                    f"Each (configuration, frames) runs in a fresh process ({args.repeats} interleaved repeat(s)).")
    if args.merge:
        process_line = (f"Merged from the raw measurements of {len(args.merge)} runs "
                        f"({', '.join(Path(m).name for m in args.merge)}; each measurement in a fresh process, "
                        f"the fastest of each configuration and frame count over all runs counts).")
    parts = [
        "# Benchmarks", "",
        "Generated by `bench/run.py` (do not edit the generated part by hand; rerun the command).", "",
        f"- Command: `{command.strip()}`",
        f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Machine: {machine()}",
        f"- Device: {args.device}, {args.threads or 'default'} torch intra-op thread(s) per measurement; "
        f"{loads} (the machine is shared: other processes add noise)",
        f"- Models: {size.describe()}. Appearance encoder, DensePose ControlNet and temporal modules at the "
        f"same widths, built in memory with the pack's own code.",
        f"- Sampling: ddim, ddim_uniform, sqrt_linear (MagicAnimate) schedule, CFG 7.5, {args.steps} timed steps "
        f"after {args.warmup_steps} untimed warm-up step(s) on the same video; windows 16 frames, overlap 4, "
        f"stride 1, closed loop, flat fuse.",
        f"- {process_line} Timed {args.worker_repeats} times after the warm-up; the fastest run counts "
        f"(bursts of other work on the shared machine only ever add time). Peak memory: the whole run after "
        f"the warm-up, the timed sampling and the VAE decode of every frame as the shipped workflows "
        f"decode (MagicAnimate Decode Frames with a TAESD-layout VAE: one frame per decode on a CPU, by free "
        f"memory on a GPU; not in the times), the largest seen.",
        "",
        "## Results", "", table(results, args.frames, unit), "",
        "## Targets", "", targets_table(found), "",
    ]
    if args.ablation_frames > 0:
        parts += ["## Where the time goes", "", ablation_table(results, args.ablation_frames), ""]
    if args.window_batch_frames > 0:
        parts += ["## Windows per model call (window_batch)", "", window_batch_table(results, args.window_batch_frames),
                  ""]
    if profile is not None:
        parts += ["## Profile (full pipeline)", "", profile_table(profile), ""]
    if args.device == "cpu":
        parts += ["## GPU", "",
                  "Not run here: no GPU machine was lent to this task. The GPU mode exists: "
                  "`python3 scripts/host.py run -- python bench/run.py --device cuda` (full SD1.5 size, random "
                  "weights, fp16, 512x512, CUDA device through comfy.model_management, peak "
                  "`torch.cuda.max_memory_allocated` over the timed run).", ""]
    return "\n".join(parts)


def write(path: Path, text: str) -> None:
    """Write ``text``, keeping whatever follows the notes marker in the existing file."""
    notes = ""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1]
    path.write_text(f"{text}\n{NOTES_MARKER}{notes or chr(10)}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    load_before = load()
    if args.merge:
        results, raw, profile = merged(args.merge)
        load_before = merged_loads(args.merge)
    else:
        results, raw = measure_all(args)
        profile = None
    if args.profile_frames > 0 and "full" in args.configs and not args.merge:
        row = run_worker(args, "full", args.profile_frames, profile=True)
        profile = row.get("profile")
        if profile is None:
            print(f"[bench] profile failed: {row.get('error')}", flush=True)
    text = document(args, results, profile, load_before, None if args.merge else load())
    print(text, flush=True)
    if args.output:
        write(Path(args.output), text)
        print(f"[bench] wrote {args.output}", flush=True)
    if args.json:
        meta = {"command": " ".join(sys.argv), "load_before": load_before, "load_after": load()}
        Path(args.json).write_text(json.dumps({"best": [dict(v) for v in results.values()], "raw": raw,
                                               "profile": profile, "meta": meta}, indent=1), encoding="utf-8")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

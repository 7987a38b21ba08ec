"""Side by side with the original MagicAnimate's own code: its pipeline and the pack on the same files.

    python3 scripts/host.py run -- python bench/side_by_side.py [--size cpu|sd15] [--frames 32] [--steps 4]

Builds the original's environment in a cache outside the clone (``bench/original_env.py``), writes random
weights with the original's own classes in the release's layout (once per size, in that cache), then runs the
original's ``AnimationPipeline`` and the pack on them in fresh processes, interleaved in both orders
(original, pack, pack, original, ...), one torch thread each.  Both figures, their ratio and the load average go
into BENCHMARKS.md (its own section among the hand-written notes) and the raw runs into ``--json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.original_env import CACHE, ensure_original_env  # noqa: E402
from bench.report import NOTES_MARKER  # noqa: E402
from bench.sizes import SIZES  # noqa: E402

ORIGINAL = REPO.parent / "shared" / "original"
TINY = REPO.parent / "shared" / "data" / "official_format_tiny"  # its small diffusers VAE decodes on both sides
SPEED_TARGET = 1.5


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("cpu", "cpu512", "sd15"), default="cpu")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="pairs; odd pairs run the pack first")
    parser.add_argument("--original", default=str(ORIGINAL), help="the original's source folder")
    parser.add_argument("--variants", nargs="+", default=[""],
                        help="pack variants, each a string of bench/pack_side.py arguments ('' = as shipped; "
                             "e.g. '--dtype bf16'); each is measured against the same original runs")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"), help="'' = don't write")
    parser.add_argument("--json", default="", help="also write every raw measurement to this file")
    parser.add_argument("--render", default="", metavar="JSON",
                        help="measure nothing: write the section from an earlier --json file (e.g. a stopped run)")
    return parser.parse_args(argv)


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def weights_for(python: Path, size_name: str, original: str) -> Path:
    """Weights at ``size_name`` written by the original's classes (once, in the cache)."""
    size = SIZES[size_name]
    folder = CACHE / "weights" / size_name
    if not (folder / ".complete").exists():
        widths = [str(size.model_channels * m) for m in (1, 2, 4, 4)]
        subprocess.run([str(python), str(REPO / "bench" / "original_side.py"), "write", "--original", original,
                        "--out", str(folder), "--widths", *widths, "--context", str(size.context_dim),
                        "--heads", str(size.heads), "--pixels", str(size.pixels)], check=True)
        (folder / ".complete").write_text("ok\n")
    return folder


def tokenizer() -> Path:
    return Path(os.environ["COMFYUI_PATH"]) / "comfy" / "sd1_tokenizer"


def run_side(cmd: list[str], prefix: str) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith(prefix):
            return json.loads(line[len(prefix):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:] or ["no output"]
    return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}


def label(variant: str) -> str:
    return f"pack {variant}".strip()


def commands(args: argparse.Namespace, python: Path, weights: Path) -> dict[str, tuple[list[str], str]]:
    size = SIZES[args.size]
    common = ["--frames", str(args.frames), "--steps", str(args.steps)]
    original = [str(python), str(REPO / "bench" / "original_side.py"), "run", "--original", args.original,
                "--weights", str(weights), "--vae", str(TINY / "vae"), "--tokenizer", str(tokenizer()),
                "--pixels", str(size.pixels), *common]
    pack = [sys.executable, str(REPO / "bench" / "pack_side.py"), "--weights", str(weights), "--vae-root", str(TINY),
            "--size", args.size, *common]
    plan = {"original": (original, "ORIGINAL_RESULT ")}
    for variant in args.variants:
        plan[label(variant)] = ([*pack, *variant.split()], "PACK_RESULT ")
    return plan


def save(args: argparse.Namespace, rows: list[dict], command: str) -> None:
    """The raw runs so far (written after each run, so a stopped run keeps what it measured)."""
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, **summary(rows), "command": command, "size": args.size,
                                               "frames": args.frames, "steps": args.steps}, indent=1),
                                   encoding="utf-8")


def measure(args: argparse.Namespace, command: str) -> list[dict]:
    python = ensure_original_env()
    weights = weights_for(python, args.size, args.original)
    plan = commands(args, python, weights)
    rows = []
    for repeat in range(args.repeats):
        order = list(plan)
        for side in (order if repeat % 2 == 0 else order[::-1]):
            before = load()
            row = {**run_side(*plan[side]), "side": side, "repeat": repeat, "load_before": before, "load_after": load()}
            shown = row.get("error") or f"{row['s_per_frame_step']:.4f} s/frame-step, {row['peak_rss_mib']:.0f} MiB"
            print(f"[side-by-side] {repeat + 1}/{args.repeats} {side:16s} {shown} (load {before})", flush=True)
            rows.append(row)
            save(args, rows, command)
    return rows


def summary(rows: list[dict]) -> dict:
    """Fastest run and largest peak RSS per side; per pack variant the speed ratio original ÷ pack and the memory
    ratio pack ÷ original."""
    best: dict = {}
    for side in dict.fromkeys(r["side"] for r in rows):
        ok = [r for r in rows if r["side"] == side and "error" not in r]
        if ok:
            best[side] = {"s_per_frame_step": min(r["s_per_frame_step"] for r in ok),
                          "s_per_frame_step_without_decode": min(r["s_per_frame_step_without_decode"] for r in ok),
                          "peak_rss_mib": max(r["peak_rss_mib"] for r in ok)}
    original = best.get("original")
    ratios = {}
    for side, b in best.items():
        if side != "original" and original:
            ratios[side] = {"speed": original["s_per_frame_step"] / b["s_per_frame_step"],
                            "speed_without_decode": (original["s_per_frame_step_without_decode"]
                                                     / b["s_per_frame_step_without_decode"]),
                            "memory": b["peak_rss_mib"] / original["peak_rss_mib"]}
    return {"best": best, "ratios": ratios}


def section(args: argparse.Namespace, rows: list[dict], found: dict, command: str) -> str:
    size = SIZES[args.size]
    marker = f"side-by-side {args.size}"
    lines = [f"<!-- {marker} -->",
             f"### Side by side with the original's code: {size.pixels}x{size.pixels}, {size.describe()[:40]}..., "
             f"{args.frames} frames, {args.steps} steps", "",
             f"`{command}`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. Fresh process per run, "
             "one torch thread each, decode included (both decode with the same small diffusers VAE); peak RSS is "
             "each process's VmHWM (loading included). Load average (1/5/15 min) before each run in the table.", "",
             "| run | side | s / frame-step | without decode | peak RSS (MiB) | load before |",
             "| ---: | --- | ---: | ---: | ---: | --- |"]
    for i, r in enumerate(rows, 1):
        if "error" in r:
            lines.append(f"| {i} | {r['side']} | ERROR | | | {r['load_before']} | `{r['error'][:120]}` |")
        else:
            lines.append(f"| {i} | {r['side']} | {r['s_per_frame_step']:.4f} | "
                         f"{r['s_per_frame_step_without_decode']:.4f} | {r['peak_rss_mib']:.0f} | {r['load_before']} |")
    best = found["best"]
    for side, ratio in found["ratios"].items():
        speed, memory = ratio["speed"], ratio["memory"]
        lines += ["", f"`{side}`, fastest of each: original {best['original']['s_per_frame_step']:.4f}, pack "
                      f"{best[side]['s_per_frame_step']:.4f} s per frame-step: **original ÷ pack {speed:.3f}** "
                      f"({'PASS' if speed >= SPEED_TARGET else 'MISS'} ≥ {SPEED_TARGET}; without the decode "
                      f"{ratio['speed_without_decode']:.3f}). Peak RSS: original "
                      f"{best['original']['peak_rss_mib']:.0f}, pack {best[side]['peak_rss_mib']:.0f} MiB: "
                      f"**pack ÷ original {memory:.3f}** ({'PASS' if memory <= 1.0 else 'MISS'} ≤ 1)."]
    return "\n".join(lines) + f"\n<!-- end {marker} -->\n"


def write_section(path: Path, text: str) -> None:
    """Put ``text`` among the hand-written notes, replacing an earlier section of the same marker."""
    old = path.read_text(encoding="utf-8")
    start, end = text.split("\n", 1)[0], text.rstrip("\n").rsplit("\n", 1)[1]
    if start in old and end in old:
        head, rest = old.split(start, 1)
        old = head + rest.split(end, 1)[1].lstrip("\n")
    if NOTES_MARKER not in old:
        old += f"\n{NOTES_MARKER}\n"
    path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = "python3 scripts/host.py run -- python bench/side_by_side.py " + shlex.join(sys.argv[1:])
    if args.render:
        data = json.loads(Path(args.render).read_text(encoding="utf-8"))
        rows, command = data["rows"], data["command"]
    else:
        rows = measure(args, command)
    found = summary(rows)
    text = section(args, rows, found, command.strip())
    print(text, flush=True)
    if args.output:
        write_section(Path(args.output), text)
    return 0 if found["ratios"] else 1


if __name__ == "__main__":
    sys.exit(main())

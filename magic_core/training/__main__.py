"""Command line for MagicAnimate training: ``python -m magic_core.training <command>``.

Commands: ``make-synthetic DIR`` (a synthetic data set), ``check-data DIR`` (report bad items),
``stage1`` / ``stage2`` (train, settings from ``--config`` YAML plus ``--set key=value`` overrides).
ComfyUI is found through ``COMFYUI_PATH`` (``python3 scripts/host.py run -- python -m magic_core.training ...``
sets it) and put on ``sys.path`` before anything of ComfyUI is imported.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "default_config.yaml"


def _bootstrap_comfyui() -> None:
    """Put ComfyUI on ``sys.path`` and choose CPU mode before ``comfy.model_management`` is imported."""
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        raise SystemExit("COMFYUI_PATH is not set: run through `python3 scripts/host.py run -- python -m "
                         "magic_core.training ...`, or set COMFYUI_PATH to your ComfyUI folder.")
    if comfy_path not in sys.path:
        sys.path.insert(0, str(Path(comfy_path).resolve()))
    import comfy.options

    comfy.options.enable_args_parsing(False)
    import comfy.cli_args
    import torch

    if not torch.cuda.is_available():
        comfy.cli_args.args.cpu = True
    import comfy.model_management  # noqa: F401  (after the CPU choice)


def _parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m magic_core.training", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("make-synthetic", help="write a synthetic data set (coloured figures + DensePose)")
    synth.add_argument("folder")
    synth.add_argument("--videos", type=int, default=6)
    synth.add_argument("--images", type=int, default=6)
    synth.add_argument("--frames", type=int, default=24)
    synth.add_argument("--width", type=int, default=64)
    synth.add_argument("--height", type=int, default=64)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--video-files", action="store_true", help="write videos as .mp4 instead of PNG folders")
    synth.add_argument("--figures", action="store_true",
                       help="write the block-figure set instead (128x128, captions, a validation/ folder)")
    synth.add_argument("--base", action="store_true",
                       help="with --figures: also pretrain a small base on it (stage 0) into DIR/base/")
    synth.add_argument("--base-steps", type=int, default=600, help="stage-0 steps of --base")
    check = sub.add_parser("check-data", help="check every item of a data set; lists bad items by file name")
    check.add_argument("folder")
    for stage in ("stage1", "stage2"):
        p = sub.add_parser(stage, help=f"train {stage} (see magic_core/training/README.md)")
        p.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML settings (default: default_config.yaml)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
        p.add_argument("--no-resume", action="store_true", help="start over even if output_dir has a checkpoint")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _bootstrap_comfyui()
    if args.command == "make-synthetic" and args.figures:
        from .synthetic_base import make_figure_dataset

        written = make_figure_dataset(args.folder, args.seed, base_steps=args.base_steps if args.base else 0)
        for name, path in written.items():
            print(f"{name}: {path}")
        return 0
    if args.command == "make-synthetic":
        from .synthetic import make_synthetic_dataset

        folder = make_synthetic_dataset(args.folder, args.videos, args.images, args.frames, args.width, args.height,
                                        args.seed, args.video_files)
        print(f"synthetic data set written to {folder}")
        return 0
    if args.command == "check-data":
        from .check import check_dataset, uncaptioned

        problems = check_dataset(args.folder)
        for problem in problems:
            print(problem)
        missing = uncaptioned(args.folder)
        for name in missing:
            print(f"no caption: {name} (trained with the prompt setting)")
        print(f"{len(problems)} bad item(s); {len(missing)} item(s) without a caption")
        return 1 if problems else 0
    from .config import load_config
    from .trainer import train

    overrides = {"stage": args.command[-1], **_parse_overrides(args.set)}
    result = train(load_config(args.config, overrides), resume=not args.no_resume)
    for name, path in result.exports.items():
        print(f"{name}: {path}")
    if result.losses:
        print(f"{result.steps} steps; last loss {result.losses[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The README's demo: animate a reference photo with a DensePose video through a real ComfyUI server.

    make demo                                                   # no files needed: synthetic run on tiny models
    make demo ARGS="--reference me.png --densepose dance.mp4"   # your inputs, with the real models in ./models
    make demo ARGS="--reference me.png --video dance.mp4"       # a plain video: DensePose estimated first

With the real model files in ``--models`` (default ``./models``, laid out like ComfyUI's ``models/`` folder) it
runs ``workflows/api/magicanimate_basic_api.json`` on your reference image and DensePose video (with ``--video``, a
plain video: ``workflows/api/magicanimate_from_video_api.json``, which estimates, smooths and aligns the DensePose
with a DensePose TorchScript model in ``<models>/magicanimate/densepose/``).  Without them it
lists exactly which files to download and where, then runs ``workflows/api/magicanimate_synthetic_api.json`` on
tiny generated models so the whole path (server, every node, the fusion sampler, video saving) is seen to work;
the tiny models have random weights, so that video shows noise, not a person.  Prints the mp4's path, what
was run, and the warnings the nodes showed; a failed run is one message with the server log's path.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMFY = Path(os.environ.get("COMFYUI_PATH", "")).resolve()
if not (COMFY / "main.py").is_file():
    raise SystemExit("COMFYUI_PATH is not set: run the demo with `make demo`.")
sys.path[:0] = [str(COMFY), str(REPO), str(REPO / "tests")]

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing(False)
import comfy.cli_args  # noqa: E402
import torch  # noqa: E402

if not torch.cuda.is_available():
    comfy.cli_args.args.cpu = True

from harness.history import ui_texts  # noqa: E402
from harness.server import ComfyServer, ExecutionFailed, PromptRejected  # noqa: E402

MAGICANIMATE_FILES = {
    "magicanimate/MagicAnimate/appearance_encoder/diffusion_pytorch_model.safetensors": "zcxu-eric/MagicAnimate",
    "magicanimate/MagicAnimate/appearance_encoder/config.json": "zcxu-eric/MagicAnimate",
    "magicanimate/MagicAnimate/densepose_controlnet/diffusion_pytorch_model.safetensors": "zcxu-eric/MagicAnimate",
    "magicanimate/MagicAnimate/densepose_controlnet/config.json": "zcxu-eric/MagicAnimate",
    "magicanimate/MagicAnimate/temporal_attention/temporal_attention.ckpt": "zcxu-eric/MagicAnimate",
}
CHECKPOINT_HELP = ("checkpoints/<any SD1.5 checkpoint>.safetensors", "e.g. v1-5-pruned-emaonly.safetensors")
VAE_HELP = ("vae/<an SD VAE>.safetensors", "stabilityai/sd-vae-ft-mse (the original's VAE)")
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
DENSEPOSE_MODELS = ("densepose_r50_fpn_dl.torchscript", "densepose_r101_fpn_dl.torchscript")
DENSEPOSE_HELP = (f"magicanimate/densepose/{DENSEPOSE_MODELS[0]}",
                  "LayerNorm/DensePose-TorchScript-with-hint-image (or copy comfyui_controlnet_aux's)")


def first_model(folder: Path) -> str | None:
    files = sorted(p.name for p in folder.glob("*") if p.suffix in MODEL_SUFFIXES) if folder.is_dir() else []
    return files[0] if files else None


def densepose_model(models: Path) -> str | None:
    """The DensePose TorchScript file in <models>/magicanimate/densepose/ (r50 first)."""
    return next((n for n in DENSEPOSE_MODELS if (models / "magicanimate" / "densepose" / n).is_file()), None)


def missing_real_files(models: Path, video: bool = False) -> list[tuple[str, str]]:
    """(path under models/, where to get it) for every real file that is not there (``video``: with the
    DensePose estimator's model)."""
    missing = [(rel, src) for rel, src in MAGICANIMATE_FILES.items() if not (models / rel).is_file()]
    if video and densepose_model(models) is None:
        missing.append(DENSEPOSE_HELP)
    if first_model(models / "checkpoints") is None:
        missing.append(CHECKPOINT_HELP)
    if first_model(models / "vae") is None:
        missing.append(VAE_HELP)
    return missing


def prepare_base(base: Path, models: Path | None) -> list[str]:
    """The server's base folder with the pack linked in; returns extra server arguments."""
    for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / "ComfyUI-MagicAnimate"
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    if models is None:
        return []
    config = base / "extra_model_paths.yaml"
    folders = "\n".join(f"    {name}: {name}/" for name in ("checkpoints", "vae", "magicanimate", "controlnet"))
    config.write_text(f"demo_models:\n    base_path: {models}\n{folders}\n"
                      f"    magicanimate_densepose: magicanimate/densepose/\n")
    return ["--extra-model-paths-config", str(config)]


def install_tiny_models(base: Path) -> None:
    """Tiny generated stand-ins under the real file names (random weights)."""
    from harness.server_files import install_magicanimate_models
    from harness.tiny_models import write_tiny_sd15_checkpoint
    from harness.tiny_sd15 import register_tiny_sd15

    plugin = base / "custom_nodes" / "magicanimate_test_models"
    if not plugin.exists():
        plugin.symlink_to(REPO / "tests" / "harness" / "tiny_host_plugin", target_is_directory=True)
    cache = base / "tiny_model_cache"
    cache.mkdir(exist_ok=True)
    ckpt = cache / "tiny_sd15.safetensors"
    if not ckpt.exists():
        register_tiny_sd15()
        write_tiny_sd15_checkpoint(ckpt)
    install_magicanimate_models(base, cache, ckpt)


def load_api_workflow(name: str) -> dict:
    return json.loads((REPO / "workflows" / "api" / f"{name}_api.json").read_text())


def _with_user_inputs(name: str, base: Path, models: Path, reference: Path, motion: Path, args) -> dict:
    """The shipped workflow ``name`` on the user's reference photo and motion video, models and settings."""
    wf = load_api_workflow(name)
    for src in (reference, motion):
        shutil.copy(src, base / "input" / src.name)
    wf["5"]["inputs"]["image"] = reference.name
    wf["6"]["inputs"]["file"] = motion.name
    wf["1"]["inputs"]["ckpt_name"] = args.checkpoint or first_model(models / "checkpoints")
    wf["2"]["inputs"]["vae_name"] = args.vae or first_model(models / "vae")
    wf["8"]["inputs"].update(width=args.size, height=args.size, frame_count=args.frames)
    wf["9"]["inputs"].update(width=args.size, height=args.size)
    wf["16"]["inputs"].update(steps=args.steps, seed=args.seed)
    return wf


def user_workflow(base: Path, models: Path, reference: Path, densepose: Path, args) -> dict:
    """The basic workflow on a DensePose video."""
    return _with_user_inputs("magicanimate_basic", base, models, reference, densepose, args)


def video_workflow(base: Path, models: Path, reference: Path, video: Path, args) -> dict:
    """The from-video workflow on a plain video: DensePose estimated, smoothed and aligned to the reference."""
    wf = _with_user_inputs("magicanimate_from_video", base, models, reference, video, args)
    wf["23"]["inputs"]["model_name"] = densepose_model(models)
    return wf


def synthetic_workflow(base: Path, size: int, frames: int, steps: int, seed: int) -> dict:
    from harness.media import write_png
    from harness.tiny_magicanimate import synthetic_reference_image

    write_png(synthetic_reference_image(size, size, seed=0), base / "input" / "magicanimate_reference.png")
    wf = load_api_workflow("magicanimate_synthetic")
    wf["6"]["inputs"].update(width=size, height=size, frame_count=frames)
    wf["8"]["inputs"].update(width=size, height=size)
    wf["9"]["inputs"].update(width=size, height=size)
    wf["16"]["inputs"].update(steps=steps, seed=seed)
    return wf


def main() -> int:
    parser = argparse.ArgumentParser(description="Animate a reference photo with a DensePose video (MagicAnimate).")
    parser.add_argument("--reference", type=Path, help="reference photo of the person (png/jpg)")
    parser.add_argument("--densepose", type=Path, help="DensePose video (viridis renderings, e.g. from "
                                                       "comfyui_controlnet_aux's DensePose Estimator)")
    parser.add_argument("--video", type=Path, help="a plain video of someone dancing (e.g. from a phone): "
                                                   "DensePose is estimated from it (instead of --densepose)")
    parser.add_argument("--models", type=Path, default=REPO / "models",
                        help="folder laid out like ComfyUI's models/ (default ./models)")
    parser.add_argument("--checkpoint", help="file in <models>/checkpoints (default: the first one)")
    parser.add_argument("--vae", help="file in <models>/vae (default: the first one)")
    parser.add_argument("--size", type=int, default=512, help="output width and height (multiple of 8)")
    parser.add_argument("--frames", type=int, default=0, help="frames to animate (0 = the whole video)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.video is not None and args.densepose is not None:
        parser.error("give --video (a plain video) or --densepose (a DensePose video), not both")
    motion = args.video if args.video is not None else args.densepose
    if (args.reference is None) != (motion is None):
        parser.error("give both --reference and --densepose (or --video), or neither")
    for path in (args.reference, motion):
        if path is not None and not path.is_file():
            parser.error(f"{path} does not exist")

    models = args.models.resolve()
    missing = missing_real_files(models, video=args.video is not None)
    if missing:
        print(f"The real model files are not all in {models}; to animate your own photo, put these there:")
        for rel, source in missing:
            print(f"  {models / rel}    <- {source}")
        if args.reference is not None:
            print(f"Nothing was run: {args.reference} and {motion} were NOT used, because animating "
                  f"them needs the real files above. Plain `make demo` (no ARGS) runs the synthetic demo on tiny "
                  f"generated models without them. (make reports this as Error 2.)")
            return 2
        print("Meanwhile: running the synthetic workflow on tiny generated models (random weights: the video "
              "shows noise, but every node and the fusion sampler run as with the real files).", flush=True)
        base = REPO / "output" / "demo-tiny"
        extra = prepare_base(base, None)
        install_tiny_models(base)
        workflow = synthetic_workflow(base, size=64, frames=24, steps=args.steps, seed=args.seed)
        what = f"the synthetic workflow on tiny random models (64x64, 24 frames, {args.steps} steps)"
    else:
        base = REPO / "output" / "demo"
        extra = prepare_base(base, models)
        if args.reference is None:
            workflow = synthetic_workflow(base, args.size, 24, args.steps, args.seed)
            what = f"the synthetic workflow on your models ({args.size}x{args.size}, 24 frames, {args.steps} steps)"
        elif args.video is not None:
            workflow = video_workflow(base, models, args.reference.resolve(), args.video.resolve(), args)
            frames = f"{args.frames} frames" if args.frames else "all frames"
            what = (f"the from-video workflow on {args.reference.name} and {args.video.name} (DensePose estimated; "
                    f"{args.size}x{args.size}, {frames}, {args.steps} steps, seed {args.seed})")
        else:
            workflow = user_workflow(base, models, args.reference.resolve(), args.densepose.resolve(), args)
            frames = f"{args.frames} frames" if args.frames else "all frames"
            what = (f"the basic workflow on {args.reference.name} and {args.densepose.name} ({args.size}x{args.size}, "
                    f"{frames}, {args.steps} steps, seed {args.seed})")

    server = ComfyServer(COMFY, sys.executable, base, cpu=not torch.cuda.is_available(), extra_args=extra)
    print(f"Starting ComfyUI ({COMFY}) on {server.url}; log: {server.log_path}", flush=True)
    try:
        server.start()
        entry = server.run(workflow, timeout=6 * 3600)
    except ExecutionFailed as err:
        return fail(f"The run of {what} failed: {err.message}", server)
    except PromptRejected as err:
        return fail(f"ComfyUI refused the workflow ({what}): {err.body.get('error', {}).get('message', err)}", server)
    except (RuntimeError, TimeoutError) as err:
        return fail(f"The ComfyUI server failed while running {what}: {str(err).splitlines()[0]}", server)
    finally:
        server.stop()
    for node_id, text in ui_texts(entry).items():
        print(f"Warning (node {node_id}, {workflow[node_id]['class_type']}): {text}")
    videos = [p for p in server.output_files(entry) if p.suffix == ".mp4"]
    if not videos:
        return fail(f"The run of {what} finished but saved no mp4.", server)
    print(f"Ran {what}.\nWrote {videos[0]}")
    return 0


def fail(message: str, server: ComfyServer) -> int:
    """One readable failure message (no traceback) with the server log's path; the exit status."""
    print(f"{message.rstrip()}\nThe server log: {server.log_path}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""The original MagicAnimate's side of the side-by-side bench; runs INSIDE the original's environment.

    <original venv>/bin/python bench/original_side.py write --out DIR --widths 64 128 256 256 --context 64 ...
    <original venv>/bin/python bench/original_side.py run --weights DIR --frames 32 --steps 4 --pixels 256

``write``: random weights written by the original's own classes (its UNet3D with temporal modules, its
appearance encoder and ControlNet, diffusers 0.21.4) in the release's layout, plus a small CLIP text encoder.
``run``: the original's ``AnimationPipeline`` on those files, one torch thread; prints one JSON line.
Nothing of the original is imported into the pack: this file only calls it (``--original`` is its source folder).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

RESULT_PREFIX = "ORIGINAL_RESULT "
INFERENCE_YAML = Path("configs") / "inference" / "inference.yaml"
DEFAULT_ORIGINAL = Path(__file__).resolve().parents[2] / "shared" / "original"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("write", "run"))
    parser.add_argument("--original", default=str(DEFAULT_ORIGINAL), help="the original's source folder")
    parser.add_argument("--out", help="write: the weights folder to create")
    parser.add_argument("--weights", help="run: the weights folder (as written by `write`)")
    parser.add_argument("--vae", help="the diffusers AutoencoderKL folder both sides use")
    parser.add_argument("--tokenizer", help="a CLIP tokenizer folder (ComfyUI's comfy/sd1_tokenizer)")
    parser.add_argument("--widths", type=int, nargs=4, default=[64, 128, 256, 256])
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--pixels", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", default="",
                        help="run: write a torch.profiler operator table to this file (and FILE.json: op_table.py)")
    parser.add_argument("--skip-decode", action="store_true",
                        help="run: no VAE decode (profiling the sampling only; the video is zeros)")
    return parser.parse_args(argv)


def _import_original(source: str) -> None:
    import torch

    sys.path.insert(0, str(Path(source).resolve()))
    # The pipeline moves the reference latent with .cuda(); on CPU that must be a no-op (this process only).
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]


def _randomize(module, seed: int) -> None:
    """Every parameter non-zero (the temporal output projections included), activations kept in range."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1 and "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif p.ndim <= 1:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))


def _unet_config(args: argparse.Namespace) -> dict:
    return {"sample_size": args.pixels // 8, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
            "block_out_channels": list(args.widths), "cross_attention_dim": args.context,
            "attention_head_dim": args.heads, "norm_num_groups": 32,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}


def write(args: argparse.Namespace) -> None:
    """Write base_unet/, MagicAnimate/{appearance_encoder,densepose_controlnet,temporal_attention}/, text_encoder/."""
    import torch
    from diffusers import UNet2DConditionModel
    from omegaconf import OmegaConf
    from transformers import CLIPTextConfig, CLIPTextModel

    _import_original(args.original)
    from magicanimate.models.appearance_encoder import AppearanceEncoderModel
    from magicanimate.models.controlnet import ControlNetModel
    from magicanimate.models.unet_controlnet import UNet3DConditionModel

    out = Path(args.out)
    config = _unet_config(args)
    base = UNet2DConditionModel(**config)
    _randomize(base, 0)
    base.save_pretrained(out / "base_unet", safe_serialization=True)
    torch.save(base.state_dict(), out / "base_unet" / "diffusion_pytorch_model.bin")  # from_pretrained_2d reads it
    # SD1.5's own config.json predates `mid_block_type`, which the original's UNet3D does not accept
    config_file = out / "base_unet" / "config.json"
    saved = json.loads(config_file.read_text())
    saved.pop("mid_block_type", None)
    config_file.write_text(json.dumps(saved, indent=1))
    del base
    encoder = AppearanceEncoderModel(**config)
    _randomize(encoder, 1)
    encoder.save_pretrained(out / "MagicAnimate" / "appearance_encoder", safe_serialization=True)
    del encoder
    control_config = {k: v for k, v in config.items() if k not in ("sample_size", "out_channels", "up_block_types")}
    control = ControlNetModel(**control_config, conditioning_embedding_out_channels=(16, 32, 96, 256))
    _randomize(control, 2)
    control.save_pretrained(out / "MagicAnimate" / "densepose_controlnet", safe_serialization=True)
    del control
    extra = OmegaConf.to_container(OmegaConf.load(Path(args.original) / INFERENCE_YAML).unet_additional_kwargs)
    unet3d = UNet3DConditionModel.from_pretrained_2d(str(out / "base_unet"), unet_additional_kwargs=extra)
    _randomize(unet3d, 3)
    # the release's file is the whole UNet3D state dict: motion modules and the spatial UNet
    (out / "MagicAnimate" / "temporal_attention").mkdir(parents=True, exist_ok=True)
    torch.save(unet3d.state_dict(), out / "MagicAnimate" / "temporal_attention" / "temporal_attention.ckpt")
    del unet3d
    text = CLIPTextModel(CLIPTextConfig(hidden_size=args.context, intermediate_size=2 * args.context,
                                        num_hidden_layers=2, num_attention_heads=2, projection_dim=args.context,
                                        max_position_embeddings=77, vocab_size=49408))
    _randomize(text, 4)
    text.save_pretrained(out / "text_encoder", safe_serialization=True)


def _peak_rss_mib(field: str = "VmHWM") -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        line = next(x for x in f if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def inputs(frames: int, pixels: int):
    """The DensePose frames (uint8 ``[F, H, W, 3]``) and reference image (uint8 ``[H, W, 3]``) both sides use."""
    import numpy as np

    rng = np.random.default_rng(5)
    return (rng.integers(0, 256, (frames, pixels, pixels, 3), dtype=np.uint8),
            rng.integers(0, 256, (pixels, pixels, 3), dtype=np.uint8))


def run(args: argparse.Namespace) -> dict:
    """The original pipeline as its animate script builds it (fp32 on CPU instead of fp16 on CUDA)."""
    import torch

    torch.set_num_threads(args.threads)
    _import_original(args.original)
    from diffusers import AutoencoderKL, DDIMScheduler
    from magicanimate.models.appearance_encoder import AppearanceEncoderModel
    from magicanimate.models.controlnet import ControlNetModel
    from magicanimate.models.unet_controlnet import UNet3DConditionModel
    from magicanimate.pipelines.pipeline_animation import AnimationPipeline
    from omegaconf import OmegaConf
    from transformers import CLIPTextModel, CLIPTokenizer

    weights = Path(args.weights)
    inference = OmegaConf.load(Path(args.original) / INFERENCE_YAML)
    started = time.perf_counter()
    with torch.inference_mode():
        unet = UNet3DConditionModel.from_pretrained_2d(
            str(weights / "base_unet"), unet_additional_kwargs=OmegaConf.to_container(inference.unet_additional_kwargs))
        motion = torch.load(weights / "MagicAnimate" / "temporal_attention" / "temporal_attention.ckpt",
                            map_location="cpu")
        missing, unexpected = unet.load_state_dict(motion, strict=False)
        assert not unexpected, unexpected[:3]
        del motion
        encoder = AppearanceEncoderModel.from_pretrained(str(weights / "MagicAnimate" / "appearance_encoder"))
        tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer, model_max_length=77)
        pipeline = AnimationPipeline(
            vae=AutoencoderKL.from_pretrained(args.vae), text_encoder=CLIPTextModel.from_pretrained(
                str(weights / "text_encoder")), tokenizer=tokenizer, unet=unet,
            controlnet=ControlNetModel.from_pretrained(str(weights / "MagicAnimate" / "densepose_controlnet")),
            scheduler=DDIMScheduler(**OmegaConf.to_container(inference.noise_scheduler_kwargs)))
        load_s = time.perf_counter() - started
        stages = {"rss_after_load_mib": _peak_rss_mib("VmRSS"), "peak_after_load_mib": _peak_rss_mib()}
        control, source = inputs(args.frames, args.pixels)
        decode_s = [0.0]
        decode = pipeline.decode_latents

        def timed_decode(*a, **k):
            stages["peak_before_decode_mib"] = _peak_rss_mib()
            start = time.perf_counter()
            if args.skip_decode:
                import numpy as np

                latents = a[0]
                return np.zeros((latents.shape[0], 3, latents.shape[2], args.pixels, args.pixels), dtype=np.float32)
            out = decode(*a, **k)
            decode_s[0] = time.perf_counter() - start
            return out

        pipeline.decode_latents = timed_decode
        generator = torch.Generator().manual_seed(1)
        call = dict(prompt="", negative_prompt="", num_inference_steps=args.steps, guidance_scale=7.5,
                    width=args.pixels, height=args.pixels, video_length=args.frames, controlnet_condition=control,
                    generator=generator, appearance_encoder=encoder, source_image=source, context_frames=16,
                    context_overlap=4, context_stride=1)
        start, cpu_start = time.perf_counter(), time.process_time()
        if args.profile:
            from torch.profiler import ProfilerActivity
            from torch.profiler import profile as torch_profile

            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                video = pipeline(**call).videos
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from bench.op_table import write_profile

            write_profile(prof, args.profile)
        else:
            video = pipeline(**call).videos
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    frame_steps = args.frames * args.steps
    return {"side": "original", "frames": args.frames, "steps": args.steps, "pixels": args.pixels,
            "seconds": seconds, "cpu_seconds": cpu_seconds, "decode_s": decode_s[0], "load_s": load_s,
            "s_per_frame_step": seconds / frame_steps,
            "s_per_frame_step_without_decode": (seconds - decode_s[0]) / frame_steps,
            "peak_rss_mib": _peak_rss_mib(), "threads": torch.get_num_threads(),
            "finite": bool(torch.isfinite(video).all()), "shape": list(video.shape),
            "torch": torch.__version__, "profiled": bool(args.profile), **stages}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.mode == "write":
        write(args)
        print(RESULT_PREFIX + json.dumps({"written": args.out}), flush=True)
    else:
        print(RESULT_PREFIX + json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()

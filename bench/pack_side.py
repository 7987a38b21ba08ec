"""The pack's side of the side-by-side bench: the same files as ``bench/original_side.py``, read by the pack.

    python3 scripts/host.py run -- python bench/pack_side.py --weights DIR --vae-root DIR --frames 32 --steps 4

Every part goes through what the pack's nodes call (the temporal, appearance-encoder and DensePose ControlNet
loaders, the Apply nodes' functions, the fusion sampler), the base UNet through ComfyUI's model class with the
diffusers file's weights (as a checkpoint loader gives it), and the decode as the shipped workflows do it
(MagicAnimate Decode Frames: one frame per VAE decode on a CPU).  One torch thread; prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.env import setup  # noqa: E402

RESULT_PREFIX = "PACK_RESULT "


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="the folder bench/original_side.py wrote")
    parser.add_argument("--vae-root", required=True, help="a folder holding vae/ (diffusers AutoencoderKL)")
    parser.add_argument("--size", default="cpu", help="bench/sizes.py size the weights were written at")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                        help="the UNet's compute dtype (bf16: ComfyUI's --bf16-unet; the other parts follow it)")
    parser.add_argument("--decode-batch", type=int, default=0,
                        help="frames per VAE decode (default 0: automatic, as the shipped workflows' Decode Frames; "
                             "16 = the workflows before issue 27, Rebatch Latents of 16 frames)")
    parser.add_argument("--profile", default="", help="write a torch.profiler operator table to this file "
                        "(and its operators as FILE.json: bench/op_table.py compares two)")
    parser.add_argument("--skip-decode", action="store_true",
                        help="no VAE decode (profiling the sampling only; the video is the latent)")
    return parser.parse_args(argv)


def base_patcher(weights: Path, size_name: str, dtype):
    """ComfyUI's SD1.5 UNet at the size's widths carrying ``base_unet``'s diffusers weights, in a ModelPatcher."""
    import comfy.model_management
    import comfy.model_patcher
    import comfy.utils
    import safetensors.torch

    from bench.models import unet_model_config
    from bench.sizes import SIZES

    config = unet_model_config(SIZES[size_name])
    config.set_inference_dtype(dtype, None)
    model = config.get_model({}, device=comfy.model_management.unet_offload_device())
    mapping = comfy.utils.unet_to_diffusers({k: v for k, v in config.unet_config.items() if k != "dtype"})
    state = safetensors.torch.load_file(str(weights / "base_unet" / "diffusion_pytorch_model.safetensors"))
    model.diffusion_model.load_state_dict({mapping[k]: state.pop(k) for k in list(state)}, strict=True)
    del state
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def _peak_rss_mib(field: str = "VmHWM") -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return int(next(x for x in f if x.startswith(field + ":")).split()[1]) / 1024


def measure(args: argparse.Namespace) -> dict:
    import torch

    sys.path.append(str(REPO / "tests"))
    from harness.official_vae import comfy_official_vae

    from bench.original_side import inputs
    from bench.pipelines import CFG, SAMPLER, SCHEDULER, SEED, SETTINGS
    from bench.sizes import SIZES
    from magic_core.appearance import apply_appearance_encoder, load_appearance_encoder
    from magic_core.decode import decode_frames
    from magic_core.densepose import apply_densepose, load_densepose_controlnet
    from magic_core.fusion import MAGICANIMATE_BETA, fusion_sample
    from magic_core.temporal import apply_temporal_attention, load_temporal_file

    torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    weights = Path(args.weights)
    magic = weights / "MagicAnimate"
    started = time.perf_counter()
    with torch.inference_mode():
        base = base_patcher(weights, args.size, dtype)
        temporal = load_temporal_file(str(magic / "temporal_attention" / "temporal_attention.ckpt"))
        encoder = load_appearance_encoder(str(magic / "appearance_encoder" / "diffusion_pytorch_model.safetensors"))
        control = load_densepose_controlnet(str(magic / "densepose_controlnet" / "diffusion_pytorch_model.safetensors"))
        vae = comfy_official_vae(Path(args.vae_root))
        gen = torch.Generator().manual_seed(5)
        text = torch.randn(2, 77, size.context_dim, generator=gen)
        positive, negative = [[text[:1], {}]], [[text[1:], {}]]
        densepose_u8, reference_u8 = inputs(args.frames, size.pixels)
        densepose = torch.from_numpy(densepose_u8).float() / 255
        reference = torch.from_numpy(reference_u8)[None].float() / 255
        load_s = time.perf_counter() - started
        stages = {"rss_after_load_mib": _peak_rss_mib("VmRSS"), "peak_after_load_mib": _peak_rss_mib()}

        def run():
            model = apply_temporal_attention(base, temporal)
            model = apply_appearance_encoder(model, encoder, vae, reference)
            pos, neg = apply_densepose(positive, negative, control, densepose)
            latent = {"samples": torch.zeros(args.frames, 4, size.latent, size.latent)}
            samples = fusion_sample(model, pos, neg, latent, seed=SEED, steps=args.steps, cfg=CFG,
                                    sampler_name=SAMPLER, scheduler=SCHEDULER, settings=SETTINGS,
                                    beta_schedule=MAGICANIMATE_BETA, progress=False)["samples"]
            stages["peak_before_decode_mib"] = _peak_rss_mib()
            decode_start = time.perf_counter()
            if args.skip_decode:
                return samples, 0.0
            images, plan = decode_frames(vae, {"samples": samples}, args.decode_batch, progress=False)
            stages["decode_per_call"] = plan.per_decode
            return images, time.perf_counter() - decode_start

        start, cpu_start = time.perf_counter(), time.process_time()
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            from bench.op_table import write_profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                video, decode_s = run()
            write_profile(prof, args.profile)
        else:
            video, decode_s = run()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    frame_steps = args.frames * args.steps
    return {"side": "pack", "frames": args.frames, "steps": args.steps, "pixels": size.pixels, "dtype": args.dtype,
            "decode_batch": args.decode_batch,
            "seconds": seconds, "cpu_seconds": cpu_seconds, "decode_s": decode_s, "load_s": load_s,
            "s_per_frame_step": seconds / frame_steps,
            "s_per_frame_step_without_decode": (seconds - decode_s) / frame_steps,
            "peak_rss_mib": _peak_rss_mib(), "threads": torch.get_num_threads(),
            "finite": bool(torch.isfinite(video).all()), "shape": list(video.shape), "torch": torch.__version__,
            "profiled": bool(args.profile), **stages}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    setup("cpu")
    print(RESULT_PREFIX + json.dumps(measure(args)), flush=True)


if __name__ == "__main__":
    main()

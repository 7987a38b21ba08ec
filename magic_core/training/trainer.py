"""The training loop: AdamW, gradient accumulation, mixed precision on CUDA, resumable checkpoints, progress
bar and CSV log, exports in the official formats.  ``train(config)`` runs a whole stage."""
from __future__ import annotations

import contextlib
import csv
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import comfy.model_management
import torch
from tqdm import tqdm

from ..errors import MagicAnimateError
from .config import TrainConfig, save_config
from .dataset import SampleSource, TrainingSample, scan_dataset
from .export import save_appearance_encoder, save_controlnet, save_temporal
from .models import BaseModels, TrainingModels, build_training_models, load_base_models
from .previews import VALIDATION_FIELDS, append_validation, load_validation_set, preview_grid, save_png
from .state import load_state, save_state
from .step import LatentBatch, diffusion_loss
from .validation import ValidationErrors, validation_errors

log = logging.getLogger(__name__)
LOG_FIELDS = ("step", "loss", "kind", "learning_rate", "seconds")
EXPORT_DIR = "MagicAnimate"


@dataclass
class TrainResult:
    """What a run did: the optimizer steps done, the loss of each, and where the exports are."""

    steps: int
    losses: list[float] = field(default_factory=list)
    exports: dict[str, Path] = field(default_factory=dict)
    bad_data: list[str] = field(default_factory=list)


def _autocast(config: TrainConfig, device: torch.device):
    if device.type != "cuda" or config.mixed_precision == "no":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if config.mixed_precision == "bf16" else torch.float16)


class Trainer:
    """One stage of training; ``base`` (optional) replaces loading ``config.base_checkpoint``.

    The trainer owns the models it is given: the UNet's ``requires_grad`` flags are switched off, and its weights
    move to the training device (they are not changed).
    """

    def __init__(self, config: TrainConfig, base: BaseModels | None = None):
        self.config = config.validate()
        self.out = Path(config.output_dir)
        self.device = comfy.model_management.get_torch_device()
        self.base = base or load_base_models(config)
        entries, bad = scan_dataset(config.data_root)
        self.source = SampleSource(config, entries, bad)
        self.models: TrainingModels = build_training_models(config, self.base, self.out)
        params = [p for m in self.models.trainable.values() for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, betas=(config.adam_beta1,
                                           config.adam_beta2), eps=config.adam_eps, weight_decay=config.weight_decay)
        fp16 = self.device.type == "cuda" and config.mixed_precision == "fp16"
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.validation = (load_validation_set(config.validation_root, config.width, config.height)
                           if config.validate_every else None)

    # --- data --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, samples: list[TrainingSample]) -> LatentBatch:
        """VAE latents (the latent mean, scaled like the sampler's) of a batch and its DensePose hints."""
        model = self.base.model.model
        frames = torch.cat([s.frames for s in samples])
        references = torch.cat([s.reference for s in samples])
        latents = model.process_latent_in(self.base.vae.encode(torch.cat([frames, references])).float())
        n = frames.shape[0]
        dropped = [bool(torch.rand((), generator=self.generator) < self.config.reference_drop_prob)
                   for _ in samples]
        hints = torch.cat([s.densepose for s in samples]).movedim(-1, 1)
        return LatentBatch(latents[:n].to(self.device), latents[n:].to(self.device), hints.to(self.device), dropped)

    def batch_context(self, samples: list[TrainingSample]) -> torch.Tensor:
        """The text embedding of each sample (``[B, tokens, C]``): its caption, or the empty prompt with
        probability ``caption_drop_prob`` (so that CFG works after training); samples without a caption use
        ``prompt``.  A batch without captions gives the prompt's ``[1, tokens, C]`` and draws nothing."""
        if all(s.caption is None for s in samples):
            return self.base.context
        texts = [None if s.caption is None else
                 ("" if bool(torch.rand((), generator=self.generator) < self.config.caption_drop_prob)
                  else s.caption) for s in samples]
        return torch.cat([self.base.caption_embedding(t) for t in texts])

    # --- resumable state ---------------------------------------------------------------------------------
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoint"

    def save_checkpoint(self) -> Path:
        state = {"step": self.step, "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                 "generator": self.generator.get_state(), "data": self.source.state(), "stage": self.config.stage}
        return save_state(self.checkpoint_dir(), self.models.trainable, state)

    def resume(self) -> bool:
        """Continue from ``output_dir/checkpoint`` if present; returns whether it did."""
        folder = self.checkpoint_dir()
        if not (folder / "state.pt").exists():
            return False
        state = load_state(folder, self.models.trainable)
        if state["stage"] != self.config.stage:
            raise MagicAnimateError(f"MagicAnimate training: {folder} holds a stage {state['stage']} checkpoint but "
                                    f"this is stage {self.config.stage}; use another output_dir")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        self.source.load_state(state["data"])
        self.step = int(state["step"])
        log.info("MagicAnimate training: resumed from %s at step %d", folder, self.step)
        return True

    # --- exports -----------------------------------------------------------------------------------------
    def export(self) -> dict[str, Path]:
        """Write the trained parts in the official layout under ``output_dir/MagicAnimate/``."""
        folder = self.out / EXPORT_DIR
        models = self.models
        if self.config.stage == 1:
            return {
                "appearance_encoder": save_appearance_encoder(models.encoder.unet.state_dict(), models.encoder_config,
                                                              folder / "appearance_encoder"),
                "densepose_controlnet": save_controlnet(models.controlnet.state_dict(), self._unet_config(),
                                                        folder / "densepose_controlnet"),
            }
        return {"temporal_attention": save_temporal(models.temporal.state_dict(), folder / "temporal_attention")}

    def _unet_config(self) -> dict:
        return self.base.model.model.model_config.unet_config

    # --- validation --------------------------------------------------------------------------------------
    def validate(self) -> ValidationErrors:
        """E, E_pose, E_ref on ``validation_root`` into ``validation.csv`` and a preview grid into
        ``previews/step_N.png`` (models already on the device)."""
        errors = validation_errors(self.models, self.base.vae, self.base.context, self.validation)
        append_validation(self.out / "validation.csv", self.step, errors)
        save_png(preview_grid(self.models, self.base.vae, self.base.context, self.validation),
                 self.out / "previews" / f"step_{self.step:06d}.png")
        log.info("MagicAnimate training: step %d validation E %.4f, E_pose %.4f, E_ref %.4f", self.step,
                 errors.E, errors.E_pose, errors.E_ref)
        return errors

    def _trim_validation(self) -> None:
        path = self.out / "validation.csv"
        if path.exists():
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=VALIDATION_FIELDS)
                writer.writeheader()
                writer.writerows(rows)

    # --- the loop ----------------------------------------------------------------------------------------
    def _log_file(self):
        path = self.out / "log.csv"
        rows = []
        if path.exists():
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        f = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in run()
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        return f, writer

    def train_step(self) -> tuple[float, str]:
        """One optimizer step over ``gradient_accumulation`` batches; returns the mean loss and the batch kinds."""
        config = self.config
        total, kinds = 0.0, []
        for _ in range(config.gradient_accumulation):
            samples = self.source.draw_batch()
            kinds.append(samples[0].kind)
            batch = self.encode(samples)
            context = self.batch_context(samples)
            with _autocast(config, self.device):
                loss = diffusion_loss(self.models, batch, context, self.generator, config.gradient_checkpointing,
                                      config.timestep_sampling, config.loss_weighting)
            self.scaler.scale(loss / config.gradient_accumulation).backward()
            total += float(loss.detach()) / config.gradient_accumulation
        self.scaler.unscale_(self.optimizer)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return total, "+".join(sorted(set(kinds)))

    @contextlib.contextmanager
    def _models_on_device(self):
        unet = self.models.unet
        unet.inject_model()
        modules = [unet.model, self.models.encoder.unet, self.models.controlnet]
        for module in modules:
            module.to(self.device)
        try:
            yield
        finally:
            for module in modules:
                module.to(comfy.model_management.unet_offload_device())
            unet.eject_model()

    def run(self, resume: bool = True) -> TrainResult:
        """Train up to ``max_steps`` optimizer steps (continuing a saved run when ``resume``)."""
        config = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(config, self.out / "config.yaml")
        if resume:
            self.resume()
        else:
            (self.out / "validation.csv").unlink(missing_ok=True)
        result = TrainResult(self.step)
        self._trim_validation()
        log_file, writer = self._log_file()
        bar = tqdm(total=config.max_steps, initial=self.step, disable=not config.progress_bar,
                   desc=f"stage {config.stage}")
        try:
            with self._models_on_device():
                while self.step < config.max_steps:
                    started = time.perf_counter()
                    loss, kinds = self.train_step()
                    result.losses.append(loss)
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", kind=kinds)
                    if self.step % config.log_every == 0:
                        writer.writerow({"step": self.step, "loss": f"{loss:.6f}", "kind": kinds,
                                         "learning_rate": config.learning_rate,
                                         "seconds": f"{time.perf_counter() - started:.3f}"})
                        log_file.flush()
                    if config.validate_every and self.step % config.validate_every == 0:
                        self.validate()
                    if self.step % config.save_every == 0 or self.step == config.max_steps:
                        self.save_checkpoint()
                        result.exports = self.export()
        finally:
            bar.close()
            log_file.close()
        if not result.exports:
            result.exports = self.export()
        result.steps = self.step
        result.bad_data = [str(e) for e in self.source.reported]
        return result


def train(config: TrainConfig, base: BaseModels | None = None, resume: bool = True) -> TrainResult:
    """Run one stage of training as ``config`` describes."""
    return Trainer(config, base).run(resume=resume)

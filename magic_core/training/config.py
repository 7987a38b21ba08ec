"""Training settings: one dataclass per stage-independent group, read from / written to YAML.

Every setting has a default (``default_config.yaml`` lists them all with comments); a YAML file only needs the
settings it changes.  Unknown keys are an error naming the key, so a typo never silently trains with a default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import MagicAnimateError

STAGES = (1, 2)
MIXED_PRECISION = ("no", "bf16", "fp16")
BAD_SAMPLE_POLICIES = ("skip", "stop")
TIMESTEP_SAMPLING = ("uniform", "cubic")
LOSS_WEIGHTINGS = ("eps", "x0")


class ConfigError(MagicAnimateError):
    """A training config that cannot be used; the message names the setting."""


@dataclass
class TrainConfig:
    """Every training setting (see ``default_config.yaml`` for what each one means)."""

    stage: int = 1
    data_root: str = "data/synthetic"
    output_dir: str = "output/training/stage1"
    base_checkpoint: str = ""
    appearance_encoder: str = ""
    densepose_controlnet: str = ""
    temporal_attention: str = ""
    prompt: str = ""
    width: int = 512
    height: int = 512
    clip_frames: int = 16
    frame_stride: int = 1
    tau0: float = 0.5
    tau1: float = 0.2
    tau2: float = 0.4
    timestep_sampling: str = "uniform"
    loss_weighting: str = "eps"
    reference_drop_prob: float = 0.1
    caption_drop_prob: float = 0.1
    on_bad_sample: str = "skip"
    batch_size: int = 1
    gradient_accumulation: int = 1
    learning_rate: float = 1e-5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    max_steps: int = 10000
    seed: int = 42
    mixed_precision: str = "bf16"
    gradient_checkpointing: bool = True
    cross_frame_norm: bool = True
    save_every: int = 1000
    log_every: int = 1
    validation_root: str = ""
    validate_every: int = 0
    progress_bar: bool = True

    def validate(self) -> TrainConfig:
        """Check ranges and combinations; returns ``self``."""
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(f"MagicAnimate training config: {message}")

        need(self.stage in STAGES, f"stage must be 1 or 2, got {self.stage!r}")
        need(self.width % 8 == 0 and self.height % 8 == 0 and self.width >= 8 and self.height >= 8,
             f"width/height {self.width}x{self.height} must be positive multiples of 8")
        need(1 <= self.clip_frames <= 24, f"clip_frames {self.clip_frames} must be 1..24 (the temporal modules' "
             "positional encoding holds 24 frames)")
        need(self.frame_stride >= 1, f"frame_stride must be at least 1, got {self.frame_stride}")
        for name in ("tau0", "tau1", "tau2", "reference_drop_prob", "caption_drop_prob"):
            need(0.0 <= getattr(self, name) <= 1.0, f"{name} must be in 0..1, got {getattr(self, name)}")
        need(self.tau1 <= self.tau2, f"tau1 ({self.tau1}) must not exceed tau2 ({self.tau2})")
        need(self.on_bad_sample in BAD_SAMPLE_POLICIES, f"on_bad_sample must be one of {BAD_SAMPLE_POLICIES}")
        need(self.loss_weighting in LOSS_WEIGHTINGS, f"loss_weighting must be one of {LOSS_WEIGHTINGS}")
        need(self.timestep_sampling in TIMESTEP_SAMPLING, f"timestep_sampling must be one of {TIMESTEP_SAMPLING}")
        need(self.mixed_precision in MIXED_PRECISION, f"mixed_precision must be one of {MIXED_PRECISION}")
        need(self.validate_every >= 0, f"validate_every must be 0 (off) or more, got {self.validate_every}")
        need(not self.validate_every or bool(self.validation_root),
             "validate_every is set but validation_root (a held-out data folder) is not")
        for name in ("batch_size", "gradient_accumulation", "max_steps", "save_every", "log_every"):
            need(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        need(self.learning_rate > 0, f"learning_rate must be positive, got {self.learning_rate}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from a mapping (e.g. parsed YAML), with the types of the defaults."""
    known = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"MagicAnimate training config: unknown settings {unknown}; see "
                          f"magic_core/training/default_config.yaml for the valid names.")
    typed: dict[str, Any] = {}
    defaults = TrainConfig()
    for key, value in values.items():
        default = getattr(defaults, key)
        if value is None:
            value = "" if isinstance(default, str) else default
        try:
            typed[key] = type(default)(value) if not isinstance(default, bool) else _as_bool(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"MagicAnimate training config: {key} = {value!r} is not a valid "
                              f"{type(default).__name__}") from exc
    return TrainConfig(**typed)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise ConfigError(f"MagicAnimate training config: {value!r} is not a yes/no value")


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the YAML file at ``path`` (if any), then ``overrides``."""
    values: dict[str, Any] = {}
    if path:
        with open(path, encoding="utf-8") as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"MagicAnimate training config: '{path}' is not a mapping of setting: value")
        values.update(loaded)
    values.update(overrides or {})
    return config_from_dict(values)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write ``config`` as YAML (the run folder keeps the exact settings it was trained with)."""
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)

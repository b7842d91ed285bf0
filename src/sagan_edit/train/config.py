"""Every setting of a training run: `TrainConfig`, its presets, and reading a run's saved one."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..align import LAYOUT_TEMPLATES
from ..attributes import canonical_attribute
from ..config import SaGANConfig
from ..errors import TrainingError
from ..fileio import atomic_write_bytes
from ..hardware import PRECISIONS

__all__ = ["CONFIG_NAME", "MODEL_FIELDS", "PAPER_PRESET", "PRESETS", "TrainConfig"]

#: The run folder's copy of the settings (written by `Trainer.fit`, read by `TrainConfig.load`).
CONFIG_NAME = "train_config.json"
#: Config fields that fix the networks' shapes: a checkpoint only resumes when they match.
MODEL_FIELDS = (
    "attribute",
    "image_size",
    "base_channels",
    "num_residual_blocks",
    "disc_base_channels",
    "disc_layers",
    "variant",
)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the defaults are the paper's (`PAPER_PRESET`).

    Serialisable with `to_dict` / `from_dict` (written as ``train_config.json`` in the run folder
    and inside every checkpoint); `load` reads a run's saved settings and `for_resume` merges
    new ones over them.
    """

    attribute: str = "Eyeglasses"
    """CelebA attribute to edit, any spelling (stored canonical)."""
    # model (SaGANConfig)
    image_size: int = 128
    """Side of the training images (paper: 128)."""
    base_channels: int = 32
    """Generator's first-layer channels (paper: 32)."""
    num_residual_blocks: int = 4
    """Residual blocks in AMN and SAN (paper: 4)."""
    disc_base_channels: int = 32
    """Discriminator's first-layer channels (paper: 32)."""
    disc_layers: int = 6
    """Stride-2 convolutions in D (paper: 6); ``image_size`` must be divisible by 2**this."""
    variant: str = "attention"
    """Generator output rule: ``attention`` (SaGAN), or the baselines ``none`` and ``residual``."""
    # optimisation: paper, Section 3
    batch_size: int = 16
    """Images per batch and process (paper: 16)."""
    g_lr: float = 2e-4
    """Adam learning rate of G (paper: 2e-4)."""
    d_lr: float = 2e-4
    """Adam learning rate of D (paper: 2e-4)."""
    beta1: float = 0.5
    """Adam beta1 (paper: 0.5)."""
    beta2: float = 0.999
    """Adam beta2 (paper: 0.999)."""
    n_critic: int = 3
    """D updates per G update, each on a fresh batch (paper: 3)."""
    lambda_gp: float = 10.0
    """Gradient penalty weight (Eq. 12; paper: 10)."""
    lambda_cls: float = 1.0
    """Attribute loss weight, for D (Eq. 3) and G (Eq. 11) (paper: 1)."""
    lambda_rec_dual: float = 20.0
    """lambda_1, dual reconstruction ``|I - G(G(I, c), c_g)|`` (Eq. 10; paper: 20)."""
    lambda_rec_id: float = 100.0
    """lambda_2, identity reconstruction ``|I - G(I, c_g)|`` (Eq. 10; paper: 100)."""
    lambda_rec_id_start: float | None = None
    """Warm-up: lambda_2 rises linearly from this value to ``lambda_rec_id`` over the first
    ``lambda_rec_id_warmup`` G steps (None: no warm-up; our choice, see the training guide)."""
    lambda_rec_id_warmup: int = 0
    """G steps of the lambda_2 warm-up."""
    lambda_sparsity: float = 1.0
    """``residual`` variant only: weight of the L1 penalty ``mean(|r|)`` on the edit's residual
    (ResGAN's sparsity term; our choice of weight)."""
    # schedule: our choice (package docstring)
    steps: int = 20_000
    """Generator steps (our choice; the paper gives none)."""
    lr_decay_fraction: float = 0.5
    """Learning rates decay linearly to 0 over this last fraction of ``steps`` (0: constant)."""
    flip: bool = True
    """Random left-right flips of training images."""
    positive_fraction: float | None = None
    """Balanced batches: each image has the attribute with this probability (None: the data's
    own share, plain passes over the data). Rare attributes (Eyeglasses: 4.8 % of CelebA-HQ)
    give D's attribute head few positives per batch; not in the paper."""
    # runtime
    seed: int = 0
    """Seeds weights, data order, flips and the penalty's interpolation."""
    device: str = "auto"
    """``auto`` (CUDA, MPS, CPU), ``cpu``, ``cuda``, ``cuda:1``, ..."""
    precision: str = "auto"
    """``auto`` (bf16 where the device computes it natively, else fp32), ``fp32`` or ``bf16``
    (autocast; losses and the gradient penalty stay fp32)."""
    channels_last: bool | None = None
    """Channels-last memory format; None: where it was measured to pay (`Trainer`)."""
    compile: bool = False
    """Run G and D through ``torch.compile`` (the gradient penalty stays eager)."""
    num_workers: int = 0
    """DataLoader worker processes (0: load in the training process)."""
    # output
    log_every: int = 10
    """Write a log record (and check losses are finite) every this many G steps."""
    sample_every: int = 500
    """Write a sample grid every this many G steps (0: only at the end)."""
    checkpoint_every: int = 1000
    """Write a checkpoint every this many G steps (0: only at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept (older ones are deleted; 0 keeps all)."""
    num_samples: int = 8
    """Fixed images in the sample grids (half with the attribute when labels allow)."""
    face_template: tuple[tuple[float, float], ...] | None = None
    """Where the eyes and nose sit in the training crops (`sagan_edit.align`), stored with the
    exported model. None: measured template of the layout (``celeba``, ``celebahq``), else
    none stored (models then assume CelebA-HQ's)."""
    # provenance, for the model card
    data: str | None = None
    """Where the training images came from (a path or a name)."""
    data_format: str | None = None
    """Their layout (``celeba``, ``celebahq``, ``folder``, ``packed``)."""
    split: str = "train"
    """The split trained on."""
    datasets: tuple[str, ...] = ()
    """Dataset names for the model card's front matter."""
    license: str = "other"
    """License of the exported weights (model card front matter)."""
    description: str | None = None
    """Text for the model card (default: generated from the run)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "attribute", canonical_attribute(self.attribute))
        object.__setattr__(self, "datasets", tuple(self.datasets))
        positive_ints = ("batch_size", "n_critic", "log_every")
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps", "lambda_rec_id_warmup", "sample_every", "checkpoint_every",
                     "keep_checkpoints", "num_workers", "num_samples"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("g_lr", "d_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("lambda_gp", "lambda_cls", "lambda_rec_dual", "lambda_rec_id",
                     "lambda_sparsity"):  # fmt: skip
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"Adam betas must be in [0, 1), got ({self.beta1}, {self.beta2})")
        if not 0 <= self.lr_decay_fraction <= 1:
            raise ValueError(f"lr_decay_fraction must be in [0, 1], got {self.lr_decay_fraction}")
        if self.positive_fraction is not None and not 0 < self.positive_fraction < 1:
            raise ValueError(f"positive_fraction must be in (0, 1), got {self.positive_fraction}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.lambda_rec_id_start is not None and not self.lambda_rec_id_start >= 0:
            raise ValueError(f"lambda_rec_id_start must be >= 0, got {self.lambda_rec_id_start}")
        self.model_config()  # validates the network shape settings

    def model_config(self, extra: dict[str, Any] | None = None) -> SaGANConfig:
        """Return the `SaGANConfig` of the networks this run trains."""
        return SaGANConfig(
            self.attribute,
            image_size=self.image_size,
            base_channels=self.base_channels,
            num_residual_blocks=self.num_residual_blocks,
            disc_base_channels=self.disc_base_channels,
            disc_layers=self.disc_layers,
            variant=self.variant,
            face_template=self.face_template_for_data(),  # type: ignore[arg-type]
            extra=dict(extra or {}),
        )

    def face_template_for_data(self) -> Sequence[Sequence[float]] | None:
        """The exported model's face template: given, or the measured one of a known layout."""
        return self.face_template or LAYOUT_TEMPLATES.get(self.data_format or "")

    def lambda_rec_id_at(self, step: int) -> float:
        """Return lambda_2 for G step ``step`` (0-based): the warm-up ramp, then the constant."""
        if self.lambda_rec_id_start is None or step >= self.lambda_rec_id_warmup:
            return self.lambda_rec_id
        share = step / self.lambda_rec_id_warmup
        return self.lambda_rec_id_start + share * (self.lambda_rec_id - self.lambda_rec_id_start)

    def learning_rate_scale(self, step: int) -> float:
        """Return the factor applied to both learning rates for G step ``step`` (0-based)."""
        decay_steps = self.steps * self.lr_decay_fraction
        if decay_steps <= 0:
            return 1.0
        return max(0.0, min(1.0, (self.steps - step) / decay_steps))

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["datasets"] = list(self.datasets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from `to_dict` output; unknown keys raise `ValueError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}")
        return cls(**data)

    @classmethod
    def from_preset(cls, name: str = "paper", **changes: Any) -> TrainConfig:
        """Build the config of preset ``name`` (`PRESETS`) with ``changes`` applied on top."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **changes})

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def network_differences(self, saved: dict[str, Any]) -> list[str]:
        """Describe the `MODEL_FIELDS` where ``saved`` (a `to_dict`) differs from this config.

        Args:
            saved: Settings as `to_dict` wrote them; fields it lacks (settings newer than it)
                count as `PAPER_PRESET`'s.

        Returns:
            One ``"field=saved (now mine)"`` string per differing field; empty when the networks
            match.
        """
        mine = self.to_dict()
        default = PAPER_PRESET.to_dict()
        return [f"{k}={saved.get(k, default[k])!r} (now {mine[k]!r})" for k in MODEL_FIELDS
                if saved.get(k, default[k]) != mine[k]]  # fmt: skip

    def save(self, run: str | os.PathLike[str]) -> Path:
        """Write the settings as ``RUN/train_config.json`` (atomically), for `load` to read.

        Args:
            run: The run folder (it must exist).

        Returns:
            The written file.
        """
        path = Path(run) / CONFIG_NAME
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())
        return path

    @classmethod
    def load(cls, run: str | os.PathLike[str]) -> TrainConfig:
        """Read the settings a run saved: ``RUN/train_config.json``, or that file itself.

        Configs written before newer settings existed load with those settings' defaults.

        Args:
            run: A run folder or the path of its ``train_config.json``.

        Returns:
            The run's config.

        Raises:
            TrainingError: The file is missing, not valid JSON, or holds unknown or invalid
                settings.
        """
        path = Path(run)
        if path.is_dir():
            path = path / CONFIG_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingError(f"{path}: no such file (not a training run?)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TrainingError(f"{path}: cannot be read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise TrainingError(
                f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(data, dict):
            raise TrainingError(f"{path}: not a training config (a JSON object was expected)")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"{path}: {exc}") from None

    @classmethod
    def for_resume(cls, run: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """Return a run's saved settings with ``overrides`` applied, for resuming it.

        Settings not given keep the run's values; the network settings (`MODEL_FIELDS`) cannot
        change, since the checkpoint's weights have their shapes.

        Args:
            run: The run folder (or its ``train_config.json``).
            **overrides: `TrainConfig` fields to change, e.g. ``steps=30_000``.

        Returns:
            The config to resume with.

        Raises:
            TrainingError: The saved config cannot be read (`load`) or ``overrides`` change a
                network setting.
            ValueError: An override is not a setting or not a valid value.
        """
        saved = cls.load(run)
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown training settings {unknown}")
        merged = saved.replace(**overrides)
        changed = [f"{k}={getattr(saved, k)!r} (given {getattr(merged, k)!r})"
                   for k in MODEL_FIELDS if getattr(saved, k) != getattr(merged, k)]  # fmt: skip
        if changed:
            raise TrainingError(
                f"{run}: a resumed run keeps its network settings; it was trained with "
                f"{', '.join(changed)}"
            )
        return merged


#: The paper's settings (Section 3) with our schedule: `TrainConfig`'s defaults.
PAPER_PRESET = TrainConfig()

#: Named starting points (`TrainConfig.from_preset`, ``sagan-edit train --preset``): each maps
#: settings to values; settings given beside a preset override it. The training guide's "Recipe"
#: section gives the measurement behind each value.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu": {
        "image_size": 64,
        "base_channels": 16,
        "disc_base_channels": 16,
        "steps": 2400,
        "lr_decay_fraction": 0.25,
        "positive_fraction": 0.5,
        "lambda_rec_id": 10.0,
    },
}

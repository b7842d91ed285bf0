"""Every setting of a training run: `TrainConfig`, its presets, and reading a run's saved one.

A `TrainConfig` holds the `SaGANConfig` of the networks it trains (``model``) beside the training
settings. Network settings may also be given by their flat names (``image_size=64``) to `replace`,
`from_preset`, `for_resume` and `from_dict`, as the command line and older saved files name them.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..align import LAYOUT_TEMPLATES
from ..config import SaGANConfig, read_json_object, write_json
from ..errors import InvalidWeightsError, TrainingError
from ..hardware import PRECISIONS

__all__ = [
    "CONFIG_NAME",
    "MODEL_FIELDS",
    "MODEL_SETTINGS",
    "PAPER_PRESET",
    "PRESETS",
    "TrainConfig",
]

#: The run folder's copy of the settings (written by `Trainer.fit`, read by `TrainConfig.load`).
CONFIG_NAME = "train_config.json"
#: The `SaGANConfig` fields that are training settings too, by the same flat name
#: (``image_size=64``): all but ``extra``, which the export fills with what the run did.
MODEL_SETTINGS = tuple(f.name for f in dataclasses.fields(SaGANConfig) if f.name != "extra")
#: Settings that fix the networks' shapes (the `SaGANConfig` fields but ``face_template`` and
#: ``extra``): a checkpoint only resumes when they match.
MODEL_FIELDS = tuple(name for name in MODEL_SETTINGS if name != "face_template")
#: The attribute of `TrainConfig`'s default model.
DEFAULT_ATTRIBUTE = "Eyeglasses"


def _default_model() -> SaGANConfig:
    return SaGANConfig(DEFAULT_ATTRIBUTE)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the defaults are the paper's (`PAPER_PRESET`).

    Serialisable with `to_dict` / `from_dict` (written as ``train_config.json`` in the run folder
    and inside every checkpoint); `load` reads a run's saved settings and `for_resume` merges
    new ones over them. `settings` gives every setting by its flat name.
    """

    model: SaGANConfig = field(default_factory=_default_model)
    """The networks to train: attribute, sizes, generator variant (`SaGANConfig`; change it with
    `replace`, like every setting). Its ``face_template`` is the one given for the training crops
    (None: the measured template of the data's layout, `face_template_for_data`); the exported
    model's ``extra`` describes the run (`model_config`)."""
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
    lambda_cls: float = 10.0
    """Attribute loss weight, for D (Eq. 3) and G (Eq. 11). The paper adds the terms unweighted
    (1); ours is 10, as AttGAN weights its generator's attribute term: at 1 the attribute term
    lost to the adversarial and identity terms and no synthetic run learned (training guide)."""
    lambda_rec_dual: float = 20.0
    """lambda_1, dual reconstruction ``|I - G(G(I, c), c_g)|`` (Eq. 10; paper: 20)."""
    lambda_rec_id: float = 100.0
    """lambda_2, identity reconstruction ``|I - G(I, c_g)|`` (Eq. 10; paper: 100)."""
    lambda_rec_id_start: float | None = None
    """Warm-up: lambda_2 rises linearly from this value to ``lambda_rec_id`` over the first
    ``lambda_rec_id_warmup`` G steps (None: no warm-up; our choice, see the training guide)."""
    lambda_rec_id_warmup: int = 0
    """G steps of the lambda_2 warm-up."""
    cls_warmup_steps: int = 0
    """D steps on the attribute term alone (real images, their labels), before the first G step:
    D's attribute head then judges edits from the start. Not in the paper (our choice; the
    training guide gives the measurement)."""
    lambda_sparsity: float = 1.0
    """``residual`` variant only: weight of the L1 penalty ``mean(|r|)`` on the edit's residual
    (ResGAN's sparsity term; our choice of weight)."""
    ema_decay: float = 0.0
    """Keep an exponential moving average of G's weights with this decay, in [0, 1): after each
    G step ``avg <- decay * avg + (1 - decay) * G``. Samples and the exported model use the
    average (0: no average, the trained G itself; not in the paper, see the training guide)."""
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
        if not isinstance(self.model, SaGANConfig):
            raise TypeError(f"model must be a SaGANConfig, got {type(self.model).__name__}")
        # a copy (validated again): the caller's SaGANConfig, which is mutable, stays theirs
        model = dataclasses.replace(self.model, extra=copy.deepcopy(self.model.extra))
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "datasets", tuple(self.datasets))
        positive_ints = ("batch_size", "n_critic", "log_every")
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps", "lambda_rec_id_warmup", "cls_warmup_steps", "sample_every",
                     "checkpoint_every", "keep_checkpoints", "num_workers",
                     "num_samples"):  # fmt: skip
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
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.lr_decay_fraction <= 1:
            raise ValueError(f"lr_decay_fraction must be in [0, 1], got {self.lr_decay_fraction}")
        if self.positive_fraction is not None and not 0 < self.positive_fraction < 1:
            raise ValueError(f"positive_fraction must be in (0, 1), got {self.positive_fraction}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.lambda_rec_id_start is not None and not self.lambda_rec_id_start >= 0:
            raise ValueError(f"lambda_rec_id_start must be >= 0, got {self.lambda_rec_id_start}")
        self.model_config()  # validates the layout's face template with the network settings

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """Every setting's flat name: the network settings (`MODEL_SETTINGS`), then the others."""
        return MODEL_SETTINGS + tuple(f.name for f in dataclasses.fields(cls) if f.name != "model")

    def settings(self) -> dict[str, Any]:
        """Return every setting by its flat name (``attribute``, ``image_size``, ``steps``...)."""
        return {name: getattr(self.model, name) for name in MODEL_SETTINGS} | {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"
        }

    def model_config(self, extra: dict[str, Any] | None = None) -> SaGANConfig:
        """Return the `SaGANConfig` the trained model is exported with.

        Args:
            extra: What the run did (`sagan_edit.model_card.training_summary`), stored in the
                model's ``extra`` over ``model.extra``.

        Returns:
            ``model`` with the face template of `face_template_for_data` and ``extra``.
        """
        return dataclasses.replace(
            self.model,
            face_template=self.face_template_for_data(),  # type: ignore[arg-type]
            extra={**copy.deepcopy(self.model.extra), **(extra or {})},
        )

    def face_template_for_data(self) -> Sequence[Sequence[float]] | None:
        """The exported model's face template: given, or the measured one of a known layout.

        Other layouts have none, and their models assume CelebA-HQ's.
        """
        return self.model.face_template or LAYOUT_TEMPLATES.get(self.data_format or "")

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
        """Return the settings as a JSON-ready dict, ``model`` as `SaGANConfig.to_dict` gives it."""
        data = dataclasses.asdict(self)
        data["model"] = self.model.to_dict()
        data["datasets"] = list(self.datasets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from `to_dict` output, or from the flat dict older versions wrote.

        Settings missing from ``data`` (newer than it) take `PAPER_PRESET`'s values.

        Raises:
            ValueError: Unknown keys, or an invalid value.
            TypeError: A value of the wrong type.
        """
        settings = dict(data)
        model = settings.pop("model", None)
        known = set(cls.setting_names()) - (set(MODEL_SETTINGS) if model is not None else set())
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}")
        if model is None:
            return cls().replace(**settings)
        if not isinstance(model, dict):
            raise ValueError(f"model must be a SaGANConfig dict, got {type(model).__name__}")
        try:
            return cls(model=SaGANConfig.from_dict(model), **settings)
        except InvalidWeightsError as exc:
            raise ValueError(f"model: {exc}") from None

    @classmethod
    def from_preset(cls, name: str = "paper", **changes: Any) -> TrainConfig:
        """Build the config of preset ``name`` (`PRESETS`) with ``changes`` applied on top.

        ``changes`` are settings as `replace` takes them (network settings by flat name too).
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls().replace(**{**PRESETS[name], **changes})

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a copy with ``changes`` applied (validated again).

        Network settings may be given by their flat names (``image_size=64``, `MODEL_SETTINGS`),
        applied over ``model`` (or over the ``model=`` given beside them).
        """
        model = changes.pop("model", self.model)
        network = {name: changes.pop(name) for name in MODEL_SETTINGS if name in changes}
        if network:
            model = dataclasses.replace(model, **network)
        return dataclasses.replace(self, model=model, **changes)

    def network_differences(self, saved: dict[str, Any]) -> list[str]:
        """Describe the `MODEL_FIELDS` where ``saved`` (a `to_dict`) differs from this config.

        Args:
            saved: Settings as `to_dict` wrote them, or as the flat dict older versions wrote;
                fields it lacks (settings newer than it) count as `PAPER_PRESET`'s.

        Returns:
            One ``"field=saved (now mine)"`` string per differing field; empty when the networks
            match.
        """
        theirs = dict(saved)
        if isinstance(theirs.get("model"), dict):
            theirs.update(theirs.pop("model"))
        mine = self.settings()
        default = PAPER_PRESET.settings()
        return [f"{k}={theirs.get(k, default[k])!r} (now {mine[k]!r})" for k in MODEL_FIELDS
                if theirs.get(k, default[k]) != mine[k]]  # fmt: skip

    def save(self, run: str | os.PathLike[str]) -> Path:
        """Write the settings as ``RUN/train_config.json`` (atomically), for `load` to read.

        Args:
            run: The run folder (it must exist).

        Returns:
            The written file.
        """
        return write_json(Path(run) / CONFIG_NAME, self.to_dict())

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
        path, data = read_json_object(run, CONFIG_NAME, TrainingError, " (not a training run?)")
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
            **overrides: Settings to change, as `replace` takes them, e.g. ``steps=30_000``.

        Returns:
            The config to resume with.

        Raises:
            TrainingError: The saved config cannot be read (`load`) or ``overrides`` change a
                network setting.
            ValueError: An override is not a setting or not a valid value.
        """
        saved = cls.load(run)
        unknown = sorted(set(overrides) - {"model", *cls.setting_names()})
        if unknown:
            raise ValueError(f"unknown training settings {unknown}")
        merged = saved.replace(**overrides)
        before, after = saved.model, merged.model
        changed = [f"{k}={getattr(before, k)!r} (given {getattr(after, k)!r})"
                   for k in MODEL_FIELDS if getattr(before, k) != getattr(after, k)]  # fmt: skip
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
        "steps": 1200,
        "lr_decay_fraction": 0.25,
        "positive_fraction": 0.5,
        "lambda_rec_id": 10.0,
        # The shipped models' settings: with 10 the real-face probes' edits swung from step to
        # step, and without the warm-up the mask collapsed until D's head had learned.
        "lambda_cls": 1.0,
        "cls_warmup_steps": 500,
        # The average against the same run's last step, add / remove: Smiling 85.8 / 86.4 % vs
        # 79.0 / 86.8 %; better on three attributes, fainter eyeglasses on the fourth (training
        # guide, "Presets and the recipe").
        "ema_decay": 0.995,
    },
}

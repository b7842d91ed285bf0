"""Training SaGAN: the paper's objective (Sections 2-3), checkpoints, logs, samples, DDP, export.

The solver follows yunjey/stargan's: a training iteration is ``n_critic`` discriminator steps,
each on a fresh batch, then one generator step on the last of those batches
(`Trainer.train_discriminator_step`, `Trainer.train_generator_step`). ``step`` always counts
generator steps.

Objective (weights from `TrainConfig`; losses in `sagan_edit.losses`), with ``c_g`` the real
label and ``c = 1 - c_g`` the edit target::

    L_D = -E[D_src(I)] + E[D_src(G(I, c))] + lambda_gp * GP + lambda_cls * BCE(D_cls(I), c_g)
    L_G = -E[D_src(G(I, c))] + lambda_cls * BCE(D_cls(G(I, c)), c)
          + lambda_rec_dual * |I - G(G(I, c), c_g)|_1 + lambda_rec_id * |I - G(I, c_g)|_1
          [+ lambda_sparsity * |r|_1 for the residual variant, r the residual of G(I, c)]

**Generator variants** (``variant``, `sagan_edit.networks.Generator`): SaGAN's attention and, for
the paper's comparison (Section 4.2), a whole-image generator (``"none"``, StarGAN's output rule)
and a residual image (``"residual"``, ResGAN's, with its L1 sparsity penalty on the edit's
residual; ``lambda_sparsity`` is our choice, the paper gives ResGAN's none). Everything else,
data, D and the objective, is shared, so the variants differ only in the output rule.

**The paper's settings** (`PAPER_PRESET`, the defaults of `TrainConfig`): Adam, lr 2e-4,
betas (0.5, 0.999), batch 16, 3 D updates per G update, lambda_gp 10, lambda_1 (dual
reconstruction) 20, lambda_2 (identity reconstruction) 100, weights ~ N(0, 0.02).

**Our choices** (the paper gives no length or schedule): 20,000 generator steps (60,000 D
steps, 960,000 images seen by D at batch 16; about 5 passes over the paper's 191,649 CelebA
training images). That is the length of the public reimplementation elvisyjlin/
SpatialAttentionGAN (1,000k images counted in D batches of 16: 62,500 D steps, about 20,800 G
steps, at a constant rate). The learning rates stay constant for the first half and then decay
linearly to zero: StarGAN's schedule (200k steps, decay over the last 100k) scaled to this length,
so that the last steps average the adversarial game out instead of stopping mid-oscillation.
Images are flipped left-right at random (StarGAN, and the issue's data section).

**Batches and determinism.** Images come from an infinite stream of index batches: pass ``e``
over the data is a permutation seeded by ``(seed, e)``, so the data order depends only on the seed
and the number of batches already drawn (`IndexStream`). Flips are drawn by the trainer from
``(seed, batch number, rank)``, not by the dataset (load datasets with ``flip=False``). A
checkpoint stores that count and every RNG state (torch CPU and CUDA, numpy, Python; one set per
rank), so a resumed run continues bit for bit on the same hardware, DataLoader workers or not.

**Mixed precision.** ``precision="bf16"`` runs the networks under ``torch.autocast`` (bf16 on CPU
and CUDA) but computes every loss in float32. The gradient penalty is computed entirely in fp32,
outside autocast: it differentiates the critic twice and compares the input gradient's norm with
1, and with bf16's 8-bit mantissa that norm is only known to about 1 %, which near the target
makes the penalty and its gradient mostly rounding noise. It costs one fp32 critic pass.

**Several GPUs.** Run the same entry point under ``torchrun --nproc-per-node N``: with
``WORLD_SIZE > 1`` the process group is initialised from the environment (NCCL on CUDA, gloo on
CPU), G and D are wrapped in ``DistributedDataParallel`` and every rank draws its own part of each
batch: ``batch_size`` is per process, the global batch is ``batch_size * N`` (for the paper's 16
on 4 GPUs pass ``batch_size=4``). The gradient penalty's double backward runs through the
underlying D module, not the DDP wrapper: the penalty's weight gradients then reach the same
parameters in the same ``backward()``, and DDP averages them with the rest (a DDP forward followed
by ``autograd.grad(create_graph=True)`` is not supported by DDP). In the generator step D's
weights are frozen and D runs unwrapped too, so DDP only ever sees one backward per forward.
``tests/test_train.py`` checks that DDP's gradients equal the average of the ranks' own.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from .align import LAYOUT_TEMPLATES
from .attributes import canonical_attribute
from .config import SaGANConfig
from .errors import SaGANError
from .fileio import atomic_path, atomic_write_bytes
from .hardware import PRECISIONS, resolve_precision
from .losses import (
    attribute_loss,
    critic_loss_fake,
    critic_loss_real,
    generator_adversarial_loss,
    gradient_penalty,
    reconstruction_loss,
    sparsity_loss,
)
from .model import SaGAN, select_device
from .networks import Discriminator, Generator

__all__ = [
    "CHECKPOINT_FORMAT",
    "PAPER_PRESET",
    "PRECISIONS",
    "PRESETS",
    "DistributedContext",
    "IndexStream",
    "NonFiniteLossError",
    "SyntheticMarkDataset",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "find_latest_checkpoint",
    "init_distributed",
    "run_training",
    "sample_grid",
]

CHECKPOINT_FORMAT = "sagan-edit-checkpoint"
CHECKPOINT_VERSION = 1
LOG_NAME = "log.jsonl"
CONFIG_NAME = "train_config.json"
CHECKPOINT_DIR = "checkpoints"
SAMPLE_DIR = "samples"
MODEL_DIR = "model"
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
#: Losses shown in the progress line (all of them go to the JSONL log).
PROGRESS_KEYS = (
    ("D/loss", "D"),
    ("D/loss_gp", "gp"),
    ("D/loss_cls", "Dcls"),
    ("G/loss_fake", "Gadv"),
    ("G/loss_cls", "Gcls"),
    ("G/loss_rec_dual", "dual"),
    ("G/loss_rec_id", "id"),
    ("G/mask_mean", "mask"),
    ("G/loss_sparsity", "sparse"),
)


class TrainingError(SaGANError):
    """A training run cannot start or continue (bad checkpoint, mismatched settings)."""


class NonFiniteLossError(TrainingError, FloatingPointError):
    """A loss became NaN or infinite; the run stopped without writing a checkpoint."""


# ------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the defaults are the paper's (`PAPER_PRESET`).

    Serialisable with `to_dict` / `from_dict` (written as ``train_config.json`` in the run folder
    and inside every checkpoint).
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
    # schedule: our choice (module docstring)
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
        for name in ("steps", "lambda_rec_id_warmup", "sample_every", "checkpoint_every", "keep_checkpoints",
                     "num_workers", "num_samples"):  # fmt: skip
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
        "steps": 3000,
        "lr_decay_fraction": 0.25,
        "positive_fraction": 0.5,
        "lambda_rec_id_start": 10.0,
        "lambda_rec_id_warmup": 500,
    },
}


# --------------------------------------------------------------------------------------- data


def _seeded_rng(*key: int) -> np.random.Generator:
    """A numpy generator determined by ``key`` alone (SeedSequence mixes the numbers)."""
    return np.random.default_rng([int(k) for k in key])


_PERMUTATION_STREAM = 0
_FLIP_STREAM = 1
_BALANCE_STREAM = 2


class IndexStream:
    """An infinite, seeded stream of index batches over a dataset of ``size`` items.

    Pass ``e`` over the data is ``permutation(size)`` seeded by ``(seed, e)``; the passes are
    concatenated and cut into global batches of ``batch_size * world_size`` indices, of which
    rank ``r`` takes the ``r``-th slice. Batch ``k`` depends only on ``(seed, k)``, so a stream
    restarted with ``start_batch=k`` continues where one that yielded ``k`` batches stopped.

    With ``labels`` and ``positive_fraction`` the stream is balanced instead: each slot of global
    batch ``k`` holds a positive with probability ``positive_fraction``, drawn uniformly with
    replacement from the positives (else from the negatives), seeded by ``(seed, k)``.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        *,
        start_batch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        labels: Sequence[float] | np.ndarray | Tensor | None = None,
        positive_fraction: float | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("the dataset is empty")
        self._pools: tuple[np.ndarray, np.ndarray] | None = None
        if positive_fraction is not None:
            if labels is None:
                raise ValueError("positive_fraction needs the labels")
            positive = np.asarray(labels, dtype=np.float64).reshape(-1) > 0.5
            if positive.shape != (size,):
                raise ValueError(f"{size} items but {positive.shape[0]} labels")
            pools = (np.flatnonzero(positive), np.flatnonzero(~positive))
            if len(pools[0]) == 0 or len(pools[1]) == 0:
                raise ValueError("balanced batches need both positives and negatives")
            self._pools = pools
        self.positive_fraction = positive_fraction
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.start_batch = start_batch
        self.rank = rank
        self.world_size = world_size
        self._cached: tuple[int, np.ndarray] | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != epoch:
            order = _seeded_rng(self.seed, _PERMUTATION_STREAM, epoch).permutation(self.size)
            self._cached = (epoch, order)
        return self._cached[1]

    def batch(self, k: int) -> list[int]:
        """Return this rank's indices of global batch ``k``."""
        if self._pools is not None:
            return self._balanced_batch(k)
        start = (k * self.world_size + self.rank) * self.batch_size
        out: list[int] = []
        for position in range(start, start + self.batch_size):
            epoch, offset = divmod(position, self.size)
            out.append(int(self._permutation(epoch)[offset]))
        return out

    def _balanced_batch(self, k: int) -> list[int]:
        assert self._pools is not None and self.positive_fraction is not None
        positives, negatives = self._pools
        rng = _seeded_rng(self.seed, _BALANCE_STREAM, k)
        slots = self.batch_size * self.world_size
        take_positive = rng.random(slots) < self.positive_fraction
        picks = np.where(
            take_positive,
            positives[rng.integers(0, len(positives), slots)],
            negatives[rng.integers(0, len(negatives), slots)],
        )
        start = self.rank * self.batch_size
        return [int(i) for i in picks[start : start + self.batch_size]]

    def __iter__(self) -> Iterator[list[int]]:
        k = self.start_batch
        while True:
            yield self.batch(k)
            k += 1


class _BatchFetcher(Dataset):
    """Maps a list of indices to a collated ``(images, labels)`` batch of ``dataset``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        batch = getattr(self.dataset, "batch", None)
        if callable(batch):  # sagan_edit.data datasets gather a batch in one call
            images, labels = batch(indices)
        else:
            items = [self.dataset[i] for i in indices]
            images = torch.stack([torch.as_tensor(image) for image, _ in items])
            labels = torch.as_tensor([float(label) for _, label in items])
        return images.float(), torch.as_tensor(labels, dtype=torch.float32).reshape(-1)


class SyntheticMarkDataset(Dataset):
    """Toy faces for tests and benchmarks: the attribute is a bright bar at a fixed place.

    Each image is a smooth random background (a linear blend of two random colours plus a soft
    blob, values within [-0.9, 0.5]); images with label 1 carry a bright grey bar (value
    ``mark_value`` in every channel) over `region`: ``bar_height`` rows from row S/4 (default
    ``max(2, S/8)``, about 6 % of the image) and the middle half of the columns, like
    eyeglasses. `clean` holds every image without its bar, the exact target of a removal.
    Deterministic given ``seed``; half the images are positive.
    """

    def __init__(
        self,
        size: int = 256,
        image_size: int = 32,
        seed: int = 0,
        *,
        mark_value: float = 1.0,
        bar_height: int | None = None,
        blob: float = 0.4,
    ) -> None:
        if size < 1 or image_size < 8:
            raise ValueError("size must be >= 1 and image_size >= 8")
        self.image_size = image_size
        self.mark_value = mark_value
        """Value of the bar's pixels (all three channels)."""
        s = image_size
        top, height = s // 4, bar_height or max(2, s // 8)
        if not 1 <= height <= s - top:
            raise ValueError(f"bar_height must be within [1, {s - top}], got {height}")
        self.region = (top, top + height, s // 4, s - s // 4)
        """``(row0, row1, col0, col1)`` of the bar: rows ``row0:row1``, columns ``col0:col1``."""
        gen = torch.Generator().manual_seed(seed)
        self.labels = (torch.randperm(size, generator=gen) % 2).float()
        """(N,) labels, 1.0 = the bar is there."""
        ys, xs = torch.meshgrid(torch.linspace(0, 1, s), torch.linspace(0, 1, s), indexing="ij")
        angle = torch.rand(size, generator=gen) * 2 * math.pi
        ramp = xs * angle.cos().view(-1, 1, 1) + ys * angle.sin().view(-1, 1, 1)
        ramp = ramp - ramp.amin((1, 2), keepdim=True)
        ramp = (ramp / ramp.amax((1, 2), keepdim=True).clamp_min(1e-6)).unsqueeze(1)
        low, high = -0.9, 0.3
        c0 = low + (high - low) * torch.rand(size, 3, 1, 1, generator=gen)
        c1 = low + (high - low) * torch.rand(size, 3, 1, 1, generator=gen)
        image = c0 * (1 - ramp) + c1 * ramp
        centre = torch.rand(size, 2, 1, 1, generator=gen)
        dist2 = (ys - centre[:, 0]) ** 2 + (xs - centre[:, 1]) ** 2
        blob = torch.exp(-dist2 / 0.02).unsqueeze(1)
        tint = blob * (torch.rand(size, 3, 1, 1, generator=gen) - 0.5)
        self.clean = (image + tint * blob).clamp(-0.9, 0.5)
        """(N, 3, S, S) images without the bar."""
        self.images = self.with_mark(self.clean, self.labels)
        """(N, 3, S, S) images in [-1, 1], the bar drawn where the label is 1."""

    def with_mark(self, images: Tensor, labels: Tensor | float = 1.0) -> Tensor:
        """Return ``images`` with the bar drawn on those whose label is 1."""
        r0, r1, c0, c1 = self.region
        out = images.clone()
        labels = torch.as_tensor(labels, dtype=torch.float32).reshape(-1).expand(len(out))
        out[labels > 0.5, :, r0:r1, c0:c1] = self.mark_value
        return out

    def region_mask(self) -> Tensor:
        """Return an (S, S) boolean map of the bar's pixels."""
        r0, r1, c0, c1 = self.region
        mask = torch.zeros(self.image_size, self.image_size, dtype=torch.bool)
        mask[r0:r1, c0:c1] = True
        return mask

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def batch(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        """Return images (B, 3, S, S) and labels (B,) of ``indices``."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.images[index], self.labels[index]


# -------------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    """This process's rank (0 writes the outputs)."""
    world_size: int = 1
    """Processes training together."""
    local_rank: int = 0
    """Rank on this machine: the GPU index it uses."""
    initialized_here: bool = False
    """Whether `init_distributed` created the process group (and so destroys it)."""

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes logs, samples, checkpoints and the model."""
        return self.rank == 0


def init_distributed(device: str = "auto") -> tuple[DistributedContext, torch.device]:
    """Join the process group torchrun describes (``WORLD_SIZE > 1``); return it and the device.

    NCCL on CUDA, gloo otherwise; each process takes GPU ``LOCAL_RANK``. Without torchrun (or
    with one process) nothing is initialised and ``device`` is resolved as usual.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = select_device(device)
    if world_size <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistributedContext(), resolved
    if not dist.is_available():
        raise TrainingError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    created = False
    if not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
        created = True
    context = DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, created)
    return context, resolved


# ------------------------------------------------------------------------------------ helpers


def _rng_state(device: torch.device) -> dict[str, Any]:
    """Capture every RNG this process uses, in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what `_rng_state` captured."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
         n["cached_gaussian"])
    )  # fmt: skip
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def find_latest_checkpoint(path: str | os.PathLike[str]) -> Path | None:
    """Return the newest checkpoint in a run folder (or its ``checkpoints/``), None if none."""
    path = Path(path)
    folder = path / CHECKPOINT_DIR if (path / CHECKPOINT_DIR).is_dir() else path
    if not folder.is_dir():
        return None
    found = sorted(folder.glob("step_*.pt"))
    return found[-1] if found else None


def _to_uint8(images: Tensor) -> Tensor:
    """Map (N, C, H, W) floats in [-1, 1] to uint8 (N, 3, H, W)."""
    images = images.detach().float().cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


def sample_grid(generator: Generator, images: Tensor, *, pad: int = 2) -> np.ndarray:
    """Return an (H, W, 3) uint8 grid, one row per image (see `Trainer.save_samples`)."""
    columns: list[Tensor] = [_to_uint8(images)]
    with torch.no_grad():
        for target in (1.0, 0.0):
            out = generator(images, target)
            if target == 1.0:  # the mask depends on the image only: show it once
                columns.append(_to_uint8(out.mask * 2 - 1))
            residual = (out.image - images).abs().mean(1, keepdim=True).clamp(0, 1)
            columns += [_to_uint8(out.image), _to_uint8(residual * 2 - 1)]
    n, _, h, w = images.shape
    rows, cols = n, len(columns)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for c, column in enumerate(columns):
        pixels = column.permute(0, 2, 3, 1).numpy()
        for r in range(rows):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y : y + h, x : x + w] = pixels[r]
    return grid


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


# ------------------------------------------------------------------------------------ trainer


@dataclass
class TrainResult:
    """What `Trainer.fit` returns."""

    step: int
    """Generator steps done (in total, resumed ones included)."""
    metrics: dict[str, float]
    """The last log window's mean losses (``D/loss_real``, ``G/loss_rec_id``, ...)."""
    checkpoint: Path | None
    """The last checkpoint written (None on ranks other than 0)."""
    model_dir: Path | None
    """The exported Hub-ready folder (None on ranks other than 0 or when not exported)."""
    seconds: float = 0.0
    """Wall time of this `fit` call."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """The log records written by this `fit` call."""


class Trainer:
    """Trains a SaGAN generator and discriminator on any ``(image, label)`` dataset.

    ``dataset`` items are ``(image, label)``: a (3, S, S) float tensor in [-1, 1] and a 0/1
    label (any number type). ``sample_dataset`` (default: ``dataset``) gives the fixed images of
    the sample grids. ``out_dir`` receives ``log.jsonl``, ``train_config.json``,
    ``checkpoints/``, ``samples/`` and, at the end, ``model/``.
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset,
        out_dir: str | os.PathLike[str],
        *,
        sample_dataset: Dataset | None = None,
        distributed: DistributedContext | None = None,
        device: torch.device | None = None,
        quiet: bool = False,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.out_dir = Path(out_dir)
        self.dist = distributed or DistributedContext()
        self.device = device if device is not None else select_device(config.device)
        self.quiet = quiet
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.precision = resolve_precision(config.precision, self.device)
        """The precision in use: ``config.precision`` with ``auto`` resolved for the device."""
        if self.precision == "bf16" and self.device.type not in ("cpu", "cuda"):
            raise TrainingError(f"bf16 autocast needs a CPU or CUDA device, not {self.device}")
        self.channels_last = (
            config.channels_last if config.channels_last is not None else self._channels_last_pays()
        )
        """Whether images and weights use the channels-last memory format."""
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise TrainingError("the training dataset is empty")

        _seed_everything(config.seed)
        self.generator = Generator(config.base_channels, config.num_residual_blocks, config.variant)
        self.discriminator = Discriminator(
            config.image_size, config.disc_base_channels, config.disc_layers
        )
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        self.generator.to(self.device, memory_format=memory_format)
        self.discriminator.to(self.device, memory_format=memory_format)
        betas = (config.beta1, config.beta2)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), config.g_lr, betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), config.d_lr, betas)
        # Different ranks draw different interpolation points; weights are broadcast by DDP.
        torch.manual_seed(config.seed + 1_000_003 * self.dist.rank)

        # Who runs what (module docstring): DDP wrappers only where a backward reaches the weights.
        g_train: nn.Module = self.generator
        d_train: nn.Module = self.discriminator
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            g_train = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)
            d_train = nn.parallel.DistributedDataParallel(self.discriminator, device_ids=ids)
        g_plain: nn.Module = self.generator
        d_plain: nn.Module = self.discriminator
        if config.compile:
            g_train, d_train = torch.compile(g_train), torch.compile(d_train)  # type: ignore[assignment]
            g_plain, d_plain = torch.compile(g_plain), torch.compile(d_plain)  # type: ignore[assignment]
        self._g_train: Callable[..., Any] = g_train
        self._d_train: Callable[..., Any] = d_train
        self._g_plain: Callable[..., Any] = g_plain
        self._d_plain: Callable[..., Any] = d_plain

        self.step = 0
        """Generator steps done."""
        self.batches = 0
        """Batches drawn from the index stream (``n_critic`` per generator step)."""
        self._loader_iter: Iterator[tuple[Tensor, Tensor]] | None = None
        self._sample_images: Tensor | None = None
        self._sample_dataset = sample_dataset if sample_dataset is not None else dataset
        self._reset_window()
        self._tb_writer: Any = None
        self._rich_console: Any = None
        self._progress: Any = None
        self._progress_task: Any = None
        self.last_checkpoint: Path | None = None
        self._checkpointed_step: int | None = None
        self.last_metrics: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self._fit_start = time.perf_counter()

    def _channels_last_pays(self) -> bool:
        """Channels-last where it was measured faster (training guide, "Speed"): CUDA, and CPU
        bf16 (oneDNN's bf16 convolutions want it); fp32 CPU runs at the small CPU sizes only."""
        if self.device.type == "cuda" or self.precision == "bf16":
            return True
        return self.device.type == "cpu" and self.config.image_size <= 64

    # -------------------------------------------------------------------------------- data

    def _autocast(self) -> AbstractContextManager[Any]:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _make_loader(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Start the batch stream at batch ``self.batches``."""
        stream = IndexStream(
            len(self.dataset),  # type: ignore[arg-type]
            self.config.batch_size,
            self.config.seed,
            start_batch=self.batches,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            labels=self._dataset_labels() if self.config.positive_fraction is not None else None,
            positive_fraction=self.config.positive_fraction,
        )
        fetcher = _BatchFetcher(self.dataset)
        if self.config.num_workers == 0:
            return (fetcher[indices] for indices in stream)
        loader = DataLoader(
            fetcher,
            sampler=stream,  # type: ignore[arg-type]
            batch_size=None,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4,
            # its own generator: creating the iterator must not draw from torch's global RNG,
            # or a resumed run would diverge from an uninterrupted one
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        return iter(loader)

    def _dataset_labels(self) -> np.ndarray:
        """Every item's label, from the dataset's ``labels`` when it has them."""
        labels = getattr(self.dataset, "labels", None)
        if labels is None:
            labels = [float(self.dataset[i][1]) for i in range(len(self.dataset))]  # type: ignore[arg-type]
        return np.asarray(torch.as_tensor(labels, dtype=torch.float32).reshape(-1))

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """Return the next training batch on the device: images (B, 3, S, S), labels (B,)."""
        if self._loader_iter is None:
            self._loader_iter = self._make_loader()
        images, labels = next(self._loader_iter)
        if self.config.flip:
            rng = _seeded_rng(self.config.seed, _FLIP_STREAM, self.batches, self.dist.rank)
            flips = torch.from_numpy(rng.random(images.shape[0]) < 0.5)
            images = torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)
        self.batches += 1
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    # ------------------------------------------------------------------------------- steps

    def _gp_critic(self, images: Tensor) -> Tensor:
        return self.discriminator(images).src

    def discriminator_losses(
        self, real: Tensor, label: Tensor, fake: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute L_D (Eqs. 2, 3, 12) for real images, their labels and edited images."""
        cfg = self.config
        n = real.shape[0]
        with self._autocast():
            out = self._d_train(torch.cat([real, fake.to(real.dtype)]))
        src_real, src_fake = out.src[:n], out.src[n:]
        loss_real = critic_loss_real(src_real)
        loss_fake = critic_loss_fake(src_fake)
        loss_cls = attribute_loss(out.cls[:n], label)
        # fp32 outside autocast, through the plain module: DDP + double backward (module doc)
        with torch.autocast(self.device.type, enabled=False):
            loss_gp = gradient_penalty(self._gp_critic, real, fake)
        loss = loss_real + loss_fake + cfg.lambda_gp * loss_gp + cfg.lambda_cls * loss_cls
        with torch.no_grad():
            accuracy = ((out.cls[:n].float() > 0).float() == label).float().mean()
        metrics = {
            "D/loss": loss,
            "D/loss_real": loss_real,
            "D/loss_fake": loss_fake,
            "D/loss_gp": loss_gp,
            "D/loss_cls": loss_cls,
            "D/wasserstein": -(loss_real + loss_fake),
            "D/cls_accuracy": accuracy,
        }
        return loss, metrics

    def train_discriminator_step(self, real: Tensor, label: Tensor) -> dict[str, Tensor]:
        """Update D once on a batch: edits ``G(I, 1 - c_g)`` are made without gradients."""
        with torch.no_grad(), self._autocast():
            fake = self._g_plain(real, 1 - label).image
        loss, metrics = self.discriminator_losses(real, label, fake)
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optimizer.step()
        return {k: v.detach() for k, v in metrics.items()}

    def generator_losses(self, real: Tensor, label: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute L_G (Eqs. 9, 10, 11, 13) for real images and their labels."""
        cfg = self.config
        n = real.shape[0]
        target = 1 - label
        with self._autocast():
            # edit and identity in one pass: G has no cross-image layers, so batching is exact
            both = self._g_train(torch.cat([real, real]), torch.cat([target, label]))
            fake, identity, mask = both.image[:n], both.image[n:], both.mask[:n]
            residual = both.residual[:n] if both.residual is not None else None
            dual = self._g_train(fake, label).image
            out = self._d_plain(fake)
        loss_fake = generator_adversarial_loss(out.src)
        loss_cls = attribute_loss(out.cls, target)
        loss_dual = reconstruction_loss(dual, real)
        loss_id = reconstruction_loss(identity, real)
        loss = (
            loss_fake
            + cfg.lambda_cls * loss_cls
            + cfg.lambda_rec_dual * loss_dual
            + cfg.lambda_rec_id_at(self.step) * loss_id
        )
        extra: dict[str, Tensor] = {}
        if residual is not None:
            extra["G/loss_sparsity"] = sparsity_loss(residual)
            loss = loss + cfg.lambda_sparsity * extra["G/loss_sparsity"]
        with torch.no_grad():
            accuracy = ((out.cls.float() > 0).float() == target).float().mean()
        metrics = {
            "G/loss": loss,
            "G/loss_fake": loss_fake,
            "G/loss_cls": loss_cls,
            "G/loss_rec_dual": loss_dual,
            "G/loss_rec_id": loss_id,
            "G/mask_mean": mask.float().mean(),
            "G/cls_accuracy": accuracy,
            **extra,
        }
        return loss, metrics

    def train_generator_step(self, real: Tensor, label: Tensor) -> dict[str, Tensor]:
        """Update G once on a batch, D's weights frozen."""
        self.discriminator.requires_grad_(False)
        try:
            loss, metrics = self.generator_losses(real, label)
            self.g_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.g_optimizer.step()
        finally:
            self.discriminator.requires_grad_(True)
        return {k: v.detach() for k, v in metrics.items()}

    def _set_learning_rates(self) -> float:
        scale = self.config.learning_rate_scale(self.step)
        for group in self.g_optimizer.param_groups:
            group["lr"] = self.config.g_lr * scale
        for group in self.d_optimizer.param_groups:
            group["lr"] = self.config.d_lr * scale
        return scale

    def train_iteration(self) -> dict[str, Tensor]:
        """Run ``n_critic`` D steps on fresh batches, then a G step on the last; return metrics."""
        self.generator.train()
        self.discriminator.train()
        self._set_learning_rates()
        d_metrics: list[dict[str, Tensor]] = []
        t0 = time.perf_counter()
        for _ in range(self.config.n_critic):
            t_data = time.perf_counter()
            real, label = self.next_batch()
            self._window_data_s += time.perf_counter() - t_data
            d_metrics.append(self.train_discriminator_step(real, label))
        g_metrics = self.train_generator_step(real, label)
        self.step += 1
        metrics = {k: torch.stack([m[k] for m in d_metrics]).mean() for k in d_metrics[0]}
        metrics.update(g_metrics)
        self._accumulate(metrics)
        self._window_train_s += time.perf_counter() - t0
        return metrics

    # ---------------------------------------------------------------------------- logging

    def _reset_window(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._count = 0
        self._finite = torch.ones((), dtype=torch.bool, device=self.device)
        self._window_start = time.perf_counter()
        self._window_data_s = 0.0
        self._window_train_s = 0.0
        self._window_first_step = self.step

    def _accumulate(self, metrics: dict[str, Tensor]) -> None:
        for key, value in metrics.items():
            value = value.float()
            if key in self._sums:
                self._sums[key] += value
            else:
                self._sums[key] = value.clone()
        self._count += 1
        self._finite &= torch.isfinite(metrics["D/loss"]) & torch.isfinite(metrics["G/loss"])

    def _reduce_window(self) -> tuple[dict[str, float], bool]:
        """Average the window's metrics over steps (and ranks); say whether all were finite."""
        keys = sorted(self._sums)
        values = [self._sums[k] / max(self._count, 1) for k in keys]
        bad = (~self._finite).float()
        packed = torch.stack([*values, bad]) if values else bad.reshape(1)
        if self.dist.enabled:
            dist.all_reduce(packed)
            packed[:-1] /= self.dist.world_size
        numbers = packed.tolist()
        return dict(zip(keys, numbers[:-1], strict=True)), numbers[-1] == 0

    def _flush_window(self) -> dict[str, float]:
        """Log the window's means (rank 0); raise `NonFiniteLossError` if a loss was not finite."""
        metrics, finite = self._reduce_window()
        if not finite:
            last = (
                f"{self.last_checkpoint} (step {self._checkpoint_step(self.last_checkpoint)})"
                if self.last_checkpoint
                else "none written yet"
            )
            shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if not math.isfinite(v))
            raise NonFiniteLossError(
                f"non-finite loss between G steps {self._window_first_step + 1} and {self.step} "
                f"({shown or 'see log'}); training stopped, no checkpoint written after it; last "
                f"good checkpoint: {last}; try precision fp32 or lower learning rates"
            )
        now = time.perf_counter()
        steps = self.step - self._window_first_step
        elapsed = now - self._window_start
        record: dict[str, Any] = {
            "step": self.step,
            "time": round(now - self._fit_start, 3),
            "lr_scale": self.config.learning_rate_scale(max(self.step - 1, 0)),
            "steps_per_s": steps / elapsed if elapsed > 0 else 0.0,
            "data_s_per_step": self._window_data_s / max(steps, 1),
        }
        record.update(metrics)
        self.last_metrics = metrics
        if self.dist.is_main and steps > 0:
            self.history.append(record)
            self._write_log(record)
            self._report(record)
        self._reset_window()
        return metrics

    def _write_log(self, record: dict[str, Any]) -> None:
        with open(self.out_dir / LOG_NAME, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._tb_writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb_writer.add_scalar(key, value, self.step)

    def _report(self, record: dict[str, Any]) -> None:
        """Show the main losses and speed: a live progress line on a terminal, else a log line."""
        if self.quiet:
            return
        parts = [f"{short} {record[key]:.3f}" for key, short in PROGRESS_KEYS if key in record]
        rate = record["steps_per_s"]
        losses = "  ".join(parts) + f"  {rate:.2f} it/s"
        if self._progress is not None:
            self._progress.update(self._progress_task, completed=self.step, losses=losses)
            return
        eta = (self.config.steps - self.step) / rate if rate > 0 else float("nan")
        eta_text = _format_duration(eta) if math.isfinite(eta) else "?"
        line = f"step {self.step}/{self.config.steps}  {losses}  eta {eta_text}"
        self._console().print(line, markup=False, highlight=False)

    def _console(self) -> Any:
        from rich.console import Console

        if self._rich_console is None:
            self._rich_console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._rich_console

    def _start_progress(self) -> None:
        if self.quiet or not self.dist.is_main or not self._console().is_terminal:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("train"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=self._console(),
        )
        self._progress_task = self._progress.add_task(
            "train", total=self.config.steps, completed=self.step, losses=""
        )
        self._progress.start()

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _open_tensorboard(self) -> None:
        if not self.dist.is_main or self._tb_writer is not None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self._tb_writer = SummaryWriter(str(self.out_dir / "tensorboard"))

    # ---------------------------------------------------------------------------- samples

    def sample_images(self) -> Tensor:
        """Return the fixed sample images (half with the attribute when labels allow)."""
        if self._sample_images is None:
            dataset = self._sample_dataset
            count = min(self.config.num_samples, len(dataset))  # type: ignore[arg-type]
            labels = getattr(dataset, "labels", None)
            if labels is not None and count > 1:
                labels = torch.as_tensor(np.asarray(labels)).reshape(-1)
                pos = torch.nonzero(labels > 0.5).flatten().tolist()
                neg = torch.nonzero(labels <= 0.5).flatten().tolist()
                half = min(count // 2, len(pos))
                chosen = pos[:half] + neg[: count - half]
                chosen += pos[half : half + count - len(chosen)]
            else:
                chosen = list(range(count))
            images, _ = _BatchFetcher(dataset)[sorted(chosen)]
            self._sample_images = images.to(self.device)
        return self._sample_images

    def save_samples(self) -> Path | None:
        """Write ``samples/step_NNNNNNN.png`` (rank 0); return its path.

        One row per fixed image: input | mask | edit to c=1 | |edit - input| | edit to c=0 |
        |edit - input| (the mask depends on the image only, so it is shown once).
        """
        if not self.dist.is_main or self.config.num_samples == 0:
            return None
        was_training = self.generator.training
        self.generator.eval()
        try:
            grid = sample_grid(self.generator, self.sample_images())
        finally:
            self.generator.train(was_training)
        path = self.out_dir / SAMPLE_DIR / f"step_{self.step:07d}.png"
        _save_png(grid, path)
        if self._tb_writer is not None:
            self._tb_writer.add_image("samples", grid, self.step, dataformats="HWC")
        return path

    # ------------------------------------------------------------------------ checkpoints

    @staticmethod
    def _checkpoint_step(path: Path | None) -> int | None:
        if path is None:
            return None
        try:
            return int(path.stem.split("_")[-1])
        except ValueError:
            return None

    def _all_rng_states(self) -> list[dict[str, Any]]:
        state = _rng_state(self.device)
        if not self.dist.enabled:
            return [state]
        gathered: list[Any] = [None] * self.dist.world_size
        dist.all_gather_object(gathered, state)
        return gathered

    def checkpoint_state(self) -> dict[str, Any]:
        """Return everything a resumed run needs (collective under DDP: call on every rank)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "batches": self.batches,
            "world_size": self.dist.world_size,
            "train_config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "rng": self._all_rng_states(),
            "metrics": dict(self.last_metrics),
        }

    def _weights_finite(self) -> bool:
        params = [*self.generator.parameters(), *self.discriminator.parameters()]
        finite = torch.stack([torch.isfinite(p).all() for p in params]).all().float()
        if self.dist.enabled:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite.item())

    def save_checkpoint(self) -> Path | None:
        """Check the losses and weights are finite, then write ``checkpoints/step_NNNNNNN.pt``.

        Collective under DDP (every rank calls it; rank 0 writes). Written atomically; older
        checkpoints beyond ``keep_checkpoints`` are deleted. Returns the path on rank 0.
        """
        if self._count:
            self._flush_window()
        if not self._weights_finite():
            raise NonFiniteLossError(
                f"weights are not finite at G step {self.step}; no checkpoint written; last good "
                f"checkpoint: {self.last_checkpoint or 'none'}"
            )
        state = self.checkpoint_state()
        self._checkpointed_step = self.step
        if not self.dist.is_main:
            return None
        folder = self.out_dir / CHECKPOINT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step_{self.step:07d}.pt"
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        self.last_checkpoint = path
        if self.config.keep_checkpoints:
            for old in sorted(folder.glob("step_*.pt"))[: -self.config.keep_checkpoints]:
                old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore a checkpoint written by `save_checkpoint`, so that training continues exactly.

        Settings that fix the networks' shapes must match this trainer's config; others (e.g.
        ``steps``, intervals) may differ. Under DDP every rank loads it and restores its own RNGs.
        """
        path = Path(path)
        if path.is_dir():
            found = find_latest_checkpoint(path)
            if found is None:
                raise TrainingError(f"{path}: no checkpoint (checkpoints/step_*.pt) to resume from")
            path = found
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise TrainingError(f"{path}: no such checkpoint") from None
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise TrainingError(f"{path}: not a readable checkpoint ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise TrainingError(f"{path}: not a sagan-edit training checkpoint")
        saved = state["train_config"]
        mine = self.config.to_dict()
        default = PAPER_PRESET.to_dict()  # for settings newer than the checkpoint
        different = [f"{k}={saved.get(k, default[k])!r} (now {mine[k]!r})" for k in MODEL_FIELDS
                     if saved.get(k, default[k]) != mine[k]]  # fmt: skip
        if different:
            raise TrainingError(
                f"{path} was trained with other network settings: {', '.join(different)}"
            )
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.step = int(state["step"])
        self.batches = int(state["batches"])
        self.last_metrics = dict(state.get("metrics", {}))
        self._loader_iter = None
        rngs = state["rng"]
        if len(rngs) == self.dist.world_size:
            _set_rng_state(rngs[self.dist.rank], self.device)
        else:
            warnings.warn(
                f"{path} was written by {len(rngs)} process(es), this run has "
                f"{self.dist.world_size}: random streams are reseeded, so the run will not "
                "repeat an uninterrupted one exactly",
                stacklevel=2,
            )
            _seed_everything(self.config.seed + 7919 * self.step + 1_000_003 * self.dist.rank)
        self.last_checkpoint = path
        self._checkpointed_step = self.step
        if self.dist.is_main:
            self._truncate_log()
        self._reset_window()

    def _truncate_log(self) -> None:
        """Drop log records after the resumed step, so the log reads as one uninterrupted run."""
        log = self.out_dir / LOG_NAME
        if not log.is_file():
            return
        kept = []
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= self.step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
        atomic_write_bytes(log, "".join(k + "\n" for k in kept).encode("utf-8"))

    # ----------------------------------------------------------------------------- export

    def model_extra(self) -> dict[str, Any]:
        """Return ``config.extra`` for the exported model: what this run actually did."""
        cfg = self.config
        data = cfg.data or type(self.dataset).__name__
        global_batch = cfg.batch_size * self.dist.world_size
        training: dict[str, Any] = {
            "trainer": "sagan-edit (sagan_edit.train)",
            "data": data,
            "data format": cfg.data_format or getattr(self.dataset, "format", "") or "custom",
            "split": cfg.split,
            "training images": len(self.dataset),  # type: ignore[arg-type]
            "generator steps": self.step,
            "discriminator steps": self.step * cfg.n_critic,
            "batch size": f"{global_batch} ({cfg.batch_size} x {self.dist.world_size} processes)"
            if self.dist.enabled
            else global_batch,
            "optimizer": f"Adam, lr G {cfg.g_lr:g} / D {cfg.d_lr:g}, betas ({cfg.beta1}, "
            f"{cfg.beta2})",
            "lr schedule": f"constant, then linear decay to 0 over the last "
            f"{cfg.lr_decay_fraction:.0%} of {cfg.steps} steps"
            if cfg.lr_decay_fraction > 0
            else "constant",
            "D updates per G update": cfg.n_critic,
            "lambda_gp / lambda_cls / lambda_1 (dual) / lambda_2 (identity)": (
                f"{cfg.lambda_gp:g} / {cfg.lambda_cls:g} / {cfg.lambda_rec_dual:g} / "
                f"{cfg.lambda_rec_id:g}"
            ),
            **(
                {"lambda_2 warm-up": f"{cfg.lambda_rec_id_start:g} rising linearly to "
                 f"{cfg.lambda_rec_id:g} over the first {cfg.lambda_rec_id_warmup} steps"}
                if cfg.lambda_rec_id_start is not None and cfg.lambda_rec_id_warmup > 0
                else {}
            ),
            **(
                {"generator variant": cfg.variant, "lambda_sparsity": cfg.lambda_sparsity}
                if cfg.variant == "residual"
                else {"generator variant": cfg.variant}
            ),
            "batches": f"balanced, {cfg.positive_fraction:.0%} with the attribute"
            if cfg.positive_fraction is not None
            else "passes over the data in random order",
            "random flips": cfg.flip,
            "precision": self.precision,
            "channels last": self.channels_last,
            "device": f"{self.device.type} x {self.dist.world_size}",
            "seed": cfg.seed,
        }
        for key in ("D/loss_real", "D/loss_fake", "D/loss_gp", "D/loss_cls", "G/loss_fake",
                    "G/loss_cls", "G/loss_rec_dual", "G/loss_rec_id", "G/mask_mean",
                    "G/loss_sparsity"):  # fmt: skip
            if key in self.last_metrics:
                training[f"final {key}"] = round(self.last_metrics[key], 4)
        description = cfg.description or (
            f"Trained with sagan-edit's trainer for {self.step} generator steps at batch "
            f"{global_batch} on {data} ({cfg.split} split, "
            f"{len(self.dataset)} images) at {cfg.image_size}x{cfg.image_size}."  # type: ignore[arg-type]
        )
        return {
            "description": description,
            "datasets": list(cfg.datasets),
            "license": cfg.license,
            "training": training,
        }

    def to_sagan(self) -> SaGAN:
        """Return a `SaGAN` (on the CPU) holding a copy of the trained generator."""
        model = SaGAN(self.config.model_config(self.model_extra()))
        state = {k: v.detach().float().cpu() for k, v in self.generator.state_dict().items()}
        model.generator.load_state_dict(state)
        return model.eval()

    def export(self, folder: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the Hub-ready folder (``OUT/model/`` by default) with `SaGAN.save_pretrained`."""
        if not self.dist.is_main:
            return None
        return self.to_sagan().save_pretrained(folder or self.out_dir / MODEL_DIR)

    # -------------------------------------------------------------------------------- fit

    def fit(self, *, export: bool = True) -> TrainResult:
        """Train until ``config.steps`` G steps, logging, sampling and checkpointing on the way.

        Ends with a checkpoint, a sample grid and (``export``) the Hub-ready ``OUT/model/``.
        Raises `NonFiniteLossError` when a loss stops being finite.
        """
        cfg = self.config
        self._fit_start = time.perf_counter()
        self.history = []
        if self.dist.is_main:
            atomic_write_bytes(
                self.out_dir / CONFIG_NAME, (json.dumps(cfg.to_dict(), indent=2) + "\n").encode()
            )
            self._open_tensorboard()
        self._reset_window()
        self._start_progress()
        try:
            while self.step < cfg.steps:
                self.train_iteration()
                if self.step % cfg.log_every == 0:
                    self._flush_window()
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
            if self._checkpointed_step != self.step or self._count:
                self.save_checkpoint()
            if not (cfg.sample_every and self.step % cfg.sample_every == 0):
                self.save_samples()
            model_dir = self.export() if export else None
        finally:
            self._stop_progress()
            self._loader_iter = None  # stops DataLoader workers
            if self._tb_writer is not None:
                self._tb_writer.close()
                self._tb_writer = None
        return TrainResult(
            step=self.step,
            metrics=dict(self.last_metrics),
            checkpoint=self.last_checkpoint if self.dist.is_main else None,
            model_dir=model_dir,
            seconds=time.perf_counter() - self._fit_start,
            history=list(self.history),
        )


# -------------------------------------------------------------------------------- entry point


def run_training(
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    dataset: Dataset | None = None,
    sample_dataset: Dataset | None = None,
    resume: str | os.PathLike[str] | bool | None = None,
    push_to_hub: str | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train from start to finish: the entry point of ``sagan-edit train``, torchrun included.

    Without ``dataset``, ``config.data`` is opened with `sagan_edit.data.load_dataset` (train
    split, no dataset-side flips: the trainer flips); the sample grids use its test split when it
    has one. ``resume``: True for the newest checkpoint in ``out_dir``, or a checkpoint file or
    run folder. ``push_to_hub``: a Hub repo id the exported model is uploaded to (rank 0).
    """
    existing = find_latest_checkpoint(out_dir)
    if not resume and existing is not None:
        # checked before any rank writes anything, so every rank sees the same answer
        raise TrainingError(
            f"{out_dir} already holds a run ({existing.name}); resume it or choose another folder"
        )
    context, device = init_distributed(config.device)
    try:
        if dataset is None:
            if not config.data:
                raise TrainingError("no training data: pass a dataset or set config.data")
            from .data import load_dataset

            options = dict(image_size=config.image_size, data_format=config.data_format, flip=False)
            dataset = load_dataset(config.data, config.attribute, split=config.split, **options)
            if sample_dataset is None:
                try:
                    sample_dataset = load_dataset(config.data, config.attribute, "test", **options)
                except SaGANError:
                    sample_dataset = None  # no test split: sample training images
            if not config.data_format:
                config = config.replace(data_format=getattr(dataset, "format", None))
        trainer = Trainer(
            config,
            dataset,
            out_dir,
            sample_dataset=sample_dataset,
            distributed=context,
            device=device,
            quiet=quiet,
        )
        if resume:
            source = out_dir if resume is True else resume
            found = find_latest_checkpoint(source) if Path(source).is_dir() else Path(source)
            if found is None:
                raise TrainingError(f"{source}: no checkpoint to resume from")
            trainer.load_checkpoint(found)
        result = trainer.fit()
        if push_to_hub and context.is_main:
            trainer.to_sagan().push_to_hub(push_to_hub)
        return result
    finally:
        if context.initialized_here and dist.is_initialized():
            dist.destroy_process_group()

"""The trainer: set-up, the D and G steps, the training loop, and export to a Hub-ready folder.

One training iteration (`Trainer.train_iteration`) is ``n_critic`` discriminator steps, each on a
fresh batch, then one generator step on the last of those batches; the objectives themselves are
`sagan_edit.losses.discriminator_objective` and `sagan_edit.losses.generator_objective`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..errors import NonFiniteLossError, TrainingError
from ..hardware import resolve_precision
from ..losses import (
    attribute_warmup_objective,
    autocast_for,
    discriminator_objective,
    generator_objective,
)
from ..model import SaGAN, select_device
from ..model_card import training_summary
from ..networks import Discriminator, Generator
from .averaging import WeightAverage
from .batches import (
    BatchFetcher,
    IndexStream,
    batch_iterator,
    dataset_labels,
    random_flips,
)
from .checkpoints import (
    CHECKPOINT_DIR,
    checkpoint_dict,
    read_checkpoint,
    restore_rng_states,
    rng_state,
    seed_everything,
    write_checkpoint,
)
from .config import TrainConfig
from .distributed import (
    DistributedContext,
    all_gather_objects,
    all_true,
    wrap_for_training,
)
from .reporting import (
    LOG_NAME,
    SAMPLE_DIR,
    MetricWindow,
    RunReporter,
    sample_grid,
    sample_indices,
    save_png,
    truncate_log,
)

__all__ = ["MODEL_DIR", "TrainResult", "Trainer"]

#: The run folder's subfolder for the exported Hub-ready model.
MODEL_DIR = "model"


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

    Args:
        config: Every setting of the run.
        dataset: ``(image, label)`` items: a (3, S, S) float tensor in [-1, 1] and a 0/1 label
            (any number type). Load it without flips: the trainer flips (``config.flip``).
        out_dir: The run folder: it receives ``log.jsonl``, ``train_config.json``,
            ``checkpoints/``, ``samples/`` and, at the end, ``model/``.
        sample_dataset: The fixed images of the sample grids come from it (default: ``dataset``).
        distributed: This process's place in a several-process run (`init_distributed`).
        device: Where to train (default: ``config.device`` resolved).
        quiet: No progress line.

    Raises:
        TrainingError: An empty dataset, or bf16 asked for on a device other than CPU or CUDA.
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
        self._build_networks()

        self.step = 0
        """Generator steps done."""
        self.batches = 0
        """Batches drawn from the index stream (``n_critic`` per generator step)."""
        self._loader_iter: Iterator[tuple[Tensor, Tensor]] | None = None
        self._sample_images: Tensor | None = None
        self._sample_dataset = sample_dataset if sample_dataset is not None else dataset
        self.window = MetricWindow(self.device, self.step)
        """The metrics summed since the last log record."""
        self.reporter = RunReporter(
            self.out_dir, config.steps, enabled=self.dist.is_main, quiet=quiet
        )
        """The log, TensorBoard and progress line (written by rank 0)."""
        self.last_checkpoint: Path | None = None
        self._checkpointed_step: int | None = None
        self.last_metrics: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self._fit_start = time.perf_counter()

    def _channels_last_pays(self) -> bool:
        """Channels-last where it pays: CUDA, and bf16 on the CPU (oneDNN's bf16 convolutions
        want it). fp32 on an AVX2 CPU ran a step at 1.00x (64x64) and 0.89x (128x128) of the
        contiguous layout (training guide, "Speed")."""
        return self.device.type == "cuda" or self.precision == "bf16"

    def _build_networks(self) -> None:
        """Seed, build G, D and their optimisers, and choose who runs what."""
        config, model = self.config, self.config.model
        seed_everything(config.seed)
        self.generator = Generator.from_config(model)
        self.discriminator = Discriminator.from_config(model)
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        self.generator.to(self.device, memory_format=memory_format)
        self.discriminator.to(self.device, memory_format=memory_format)
        betas = (config.beta1, config.beta2)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), config.g_lr, betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), config.d_lr, betas)
        self.generator_average = (
            WeightAverage(self.generator, config.ema_decay) if config.ema_decay else None
        )
        """The moving average of G's weights (``config.ema_decay``; None when off)."""
        # Different ranks draw different interpolation points; weights are broadcast by DDP.
        torch.manual_seed(config.seed + 1_000_003 * self.dist.rank)

        # Who runs what (package docstring): DDP wrappers only where a backward reaches the
        # weights; the gradient penalty always differentiates the plain, eager D.
        g_train = wrap_for_training(self.generator, self.dist, self.device)
        d_train = wrap_for_training(self.discriminator, self.dist, self.device)
        g_plain: nn.Module = self.generator
        d_plain: nn.Module = self.discriminator
        if config.compile:
            g_train, d_train = torch.compile(g_train), torch.compile(d_train)  # type: ignore[assignment]
            g_plain, d_plain = torch.compile(g_plain), torch.compile(d_plain)  # type: ignore[assignment]
        self._g_train: Callable[..., Any] = g_train
        self._d_train: Callable[..., Any] = d_train
        self._g_plain: Callable[..., Any] = g_plain
        self._d_plain: Callable[..., Any] = d_plain

    # -------------------------------------------------------------------------------- data

    def _autocast(self) -> AbstractContextManager[Any]:
        return autocast_for(self.precision, self.device)

    def _make_loader(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Start the batch stream at batch ``self.batches``."""
        balanced = self.config.positive_fraction is not None
        stream = IndexStream(
            len(self.dataset),  # type: ignore[arg-type]
            self.config.batch_size,
            self.config.seed,
            start_batch=self.batches,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            labels=dataset_labels(self.dataset) if balanced else None,
            positive_fraction=self.config.positive_fraction,
        )
        return batch_iterator(
            self.dataset,
            stream,
            num_workers=self.config.num_workers,
            seed=self.config.seed,
            pin_memory=self.device.type == "cuda",
        )

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """Return the next training batch on the device: images (B, 3, S, S), labels (B,)."""
        if self._loader_iter is None:
            self._loader_iter = self._make_loader()
        images, labels = next(self._loader_iter)
        if self.config.flip:
            images = random_flips(images, self.config.seed, self.batches, self.dist.rank)
        self.batches += 1
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    # ------------------------------------------------------------------------------- steps

    def discriminator_losses(
        self, real: Tensor, label: Tensor, fake: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute L_D and its metrics (`sagan_edit.losses.discriminator_objective`) for a batch."""
        return discriminator_objective(
            self._d_train, real, label, fake, self.config,
            penalty_d=self.discriminator, precision=self.precision,
        )  # fmt: skip

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
        """Compute L_G and its metrics (`sagan_edit.losses.generator_objective`) for a batch."""
        return generator_objective(
            self._g_train, self._d_plain, real, label, self.config, self.step,
            precision=self.precision, joint_pass=self.config.model.residual_norm != "batch",
        )  # fmt: skip

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
        if self.generator_average is not None:
            self.generator_average.update(self.generator)
        return {k: v.detach() for k, v in metrics.items()}

    def warm_up_attribute_head(self) -> dict[str, float]:
        """Train D on ``lambda_cls * BCE(D_cls(I), c_g)`` alone for ``cls_warmup_steps`` batches.

        Without it, D's attribute head is at chance for the first hundreds of steps, during
        which nothing rewards an edit and the reconstruction terms shrink SAN's mask to nothing
        (the training guide). Logged as one record at step 0 with ``warmup`` set.
        """
        self.discriminator.train()
        t0 = time.perf_counter()
        losses, hits = [], []
        for _ in range(self.config.cls_warmup_steps):
            real, label = self.next_batch()
            loss, metrics = attribute_warmup_objective(
                self._d_train, real, label, self.config, precision=self.precision
            )
            self.d_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.d_optimizer.step()
            losses.append(metrics["D/loss_cls"].detach())
            hits.append(metrics["D/cls_accuracy"])
        last = slice(-max(1, len(losses) // 10), None)  # the last tenth: where the head ended
        seconds = time.perf_counter() - t0
        record = {
            "step": self.step,
            "warmup": True,
            "D/loss_cls": torch.stack(losses[last]).mean().item(),
            "D/cls_accuracy": torch.stack(hits[last]).mean().item(),
            "steps_per_s": len(losses) / seconds,
            "time": seconds,
        }
        if self.dist.is_main:
            self.reporter.write(record)
        return record

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
            self.window.data_s += time.perf_counter() - t_data
            d_metrics.append(self.train_discriminator_step(real, label))
        g_metrics = self.train_generator_step(real, label)
        self.step += 1
        metrics = {k: torch.stack([m[k] for m in d_metrics]).mean() for k in d_metrics[0]}
        metrics.update(g_metrics)
        self.window.add(metrics)
        self.window.train_s += time.perf_counter() - t0
        return metrics

    # ---------------------------------------------------------------------------- logging

    def _reset_window(self) -> None:
        self.window.reset(self.step)

    def _flush_window(self) -> dict[str, float]:
        """Log the window's means (rank 0); raise `NonFiniteLossError` if a loss was not finite."""
        metrics, finite = self.window.reduce(self.dist)
        if not finite:
            raise self.window.non_finite_error(self.step, metrics, self.last_checkpoint)
        record = self.window.record(
            self.step,
            metrics,
            elapsed=time.perf_counter() - self._fit_start,
            lr_scale=self.config.learning_rate_scale(max(self.step - 1, 0)),
        )
        self.last_metrics = metrics
        if self.dist.is_main and self.step > self.window.first_step:
            self.history.append(record)
            self.reporter.write(record)
        self._reset_window()
        return metrics

    # ---------------------------------------------------------------------------- samples

    def sample_images(self) -> Tensor:
        """Return the fixed sample images (half with the attribute when labels allow)."""
        if self._sample_images is None:
            dataset = self._sample_dataset
            count = min(self.config.num_samples, len(dataset))  # type: ignore[arg-type]
            chosen = sample_indices(getattr(dataset, "labels", None), count)
            images, _ = BatchFetcher(dataset)[chosen]
            self._sample_images = images.to(self.device)
        return self._sample_images

    def save_samples(self) -> Path | None:
        """Write ``samples/step_NNNNNNN.png`` (rank 0); return its path.

        One row per fixed image: input | mask | edit to c=1 | |edit - input| | edit to c=0 |
        |edit - input| (the mask depends on the image only, so it is shown once).
        """
        if not self.dist.is_main or self.config.num_samples == 0:
            return None
        generator = self.generator_to_export
        was_training = generator.training
        generator.eval()
        try:
            grid = sample_grid(generator, self.sample_images())
        finally:
            generator.train(was_training)
        path = self.out_dir / SAMPLE_DIR / f"step_{self.step:07d}.png"
        save_png(grid, path)
        self.reporter.add_image(grid, self.step)
        return path

    # ------------------------------------------------------------------------ checkpoints

    def checkpoint_state(self) -> dict[str, Any]:
        """Return everything a resumed run needs (collective under DDP: call on every rank)."""
        networks = {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
        }
        if self.generator_average is not None:
            networks["generator_average"] = self.generator_average.state_dict()
        return checkpoint_dict(
            step=self.step,
            batches=self.batches,
            world_size=self.dist.world_size,
            config=self.config,
            networks=networks,
            rng=all_gather_objects(self.dist, rng_state(self.device)),
            metrics=self.last_metrics,
        )

    def _weights_finite(self) -> bool:
        params = [*self.generator.parameters(), *self.discriminator.parameters()]
        finite = torch.stack([torch.isfinite(p).all() for p in params]).all().float()
        return all_true(self.dist, finite)

    def save_checkpoint(self) -> Path | None:
        """Check the losses and weights are finite, then write ``checkpoints/step_NNNNNNN.pt``.

        Collective under DDP (every rank calls it; rank 0 writes). Written atomically; older
        checkpoints beyond ``keep_checkpoints`` are deleted. Returns the path on rank 0.
        """
        if self.window.count:
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
        self.last_checkpoint = write_checkpoint(
            state, folder, self.step, self.config.keep_checkpoints
        )
        return self.last_checkpoint

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore a checkpoint written by `save_checkpoint`, so that training continues exactly.

        Settings that fix the networks' shapes must match this trainer's config; others (e.g.
        ``steps``, intervals) may differ. Under DDP every rank loads it and restores its own RNGs.

        Args:
            path: A checkpoint file, or a run folder (its newest checkpoint).

        Raises:
            TrainingError: No readable checkpoint, or one of other network settings.
        """
        path, state = read_checkpoint(path, self.config)
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        if self.generator_average is not None:
            if "generator_average" in state:
                self.generator_average.load_state_dict(state["generator_average"])
            else:  # a run that kept none: start the average from the loaded G, not the initial one
                self.generator_average = WeightAverage(self.generator, self.config.ema_decay)
        self.step = int(state["step"])
        self.batches = int(state["batches"])
        self.last_metrics = dict(state.get("metrics", {}))
        self._loader_iter = None
        reseed = self.config.seed + 7919 * self.step + 1_000_003 * self.dist.rank
        restore_rng_states(state["rng"], self.dist, self.device, reseed=reseed, source=path)
        self.last_checkpoint = path
        self._checkpointed_step = self.step
        if self.dist.is_main:
            truncate_log(self.out_dir / LOG_NAME, self.step)
        self._reset_window()

    # ----------------------------------------------------------------------------- export

    def model_extra(self) -> dict[str, Any]:
        """Return ``config.extra`` for the exported model: what this run actually did."""
        cfg = self.config
        return training_summary(
            cfg.settings(),
            steps=self.step,
            images=len(self.dataset),  # type: ignore[arg-type]
            data=cfg.data or type(self.dataset).__name__,
            data_format=cfg.data_format or getattr(self.dataset, "format", "") or "custom",
            world_size=self.dist.world_size,
            precision=self.precision,
            channels_last=self.channels_last,
            device_type=self.device.type,
            metrics=self.last_metrics,
        )

    @property
    def generator_to_export(self) -> nn.Module:
        """The generator that samples and exports show: the average of G when kept, else G."""
        average = self.generator_average
        return average.module if average is not None else self.generator

    def to_sagan(self) -> SaGAN:
        """Return a `SaGAN` (on the CPU) holding a copy of `generator_to_export`."""
        model = SaGAN(self.config.model_config(self.model_extra()))
        weights = self.generator_to_export.state_dict()
        state = {k: v.detach().float().cpu() for k, v in weights.items()}
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

        Args:
            export: Write ``OUT/model/`` at the end.

        Returns:
            The steps done, the last metrics, the checkpoint and model folder written.

        Raises:
            NonFiniteLossError: A loss or weight stopped being finite.
        """
        cfg = self.config
        self._fit_start = time.perf_counter()
        self.history = []
        if self.dist.is_main:
            cfg.save(self.out_dir)
            self.reporter.open_tensorboard()
        self._reset_window()
        self.reporter.start_progress(self.step)
        try:
            if self.step == 0 and cfg.cls_warmup_steps:
                self.warm_up_attribute_head()
            while self.step < cfg.steps:
                self.train_iteration()
                if self.step % cfg.log_every == 0:
                    self._flush_window()
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
            if self._checkpointed_step != self.step or self.window.count:
                self.save_checkpoint()
            if not (cfg.sample_every and self.step % cfg.sample_every == 0):
                self.save_samples()
            model_dir = self.export() if export else None
        finally:
            self.reporter.close()
            self._loader_iter = None  # stops DataLoader workers
        return TrainResult(
            step=self.step,
            metrics=dict(self.last_metrics),
            checkpoint=self.last_checkpoint if self.dist.is_main else None,
            model_dir=model_dir,
            seconds=time.perf_counter() - self._fit_start,
            history=list(self.history),
        )

"""What a run shows and writes as it goes: metric windows, the JSONL log, TensorBoard, the
progress line and the sample grids.

Every G step's metrics are summed on the device (`MetricWindow`, no synchronisation); every
``log_every`` steps the window is averaged over its steps and the ranks, checked finite and
written by rank 0 as one ``log.jsonl`` record (and TensorBoard scalars when TensorBoard is
installed). `sample_grid` draws the fixed images' edits for ``samples/step_NNNNNNN.png``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import Tensor

from ..errors import NonFiniteLossError
from ..fileio import atomic_path, atomic_write_bytes
from ..networks import Generator
from .checkpoints import checkpoint_step
from .distributed import DistributedContext

__all__ = [
    "LOG_NAME",
    "PROGRESS_KEYS",
    "SAMPLE_DIR",
    "MetricWindow",
    "RunReporter",
    "sample_grid",
    "sample_indices",
    "save_png",
    "truncate_log",
]

#: The run folder's log: one JSON record per ``log_every`` G steps.
LOG_NAME = "log.jsonl"
#: The run folder's subfolder of sample grids.
SAMPLE_DIR = "samples"
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


# ------------------------------------------------------------------------------ metric window


class MetricWindow:
    """The metrics of the G steps since the last log record, summed on the device.

    Args:
        device: Where the sums live (the training device).
        first_step: The G step count when the window opens.
    """

    def __init__(self, device: torch.device, first_step: int = 0) -> None:
        self.device = device
        self.reset(first_step)

    def reset(self, first_step: int) -> None:
        """Empty the window; it now starts after G step ``first_step``."""
        self.sums: dict[str, Tensor] = {}
        self.count = 0
        """G steps added since the last reset."""
        self.finite = torch.ones((), dtype=torch.bool, device=self.device)
        self.start = time.perf_counter()
        self.data_s = 0.0
        """Seconds spent waiting for batches in this window."""
        self.train_s = 0.0
        """Seconds spent in training iterations in this window."""
        self.first_step = first_step

    def add(self, metrics: dict[str, Tensor]) -> None:
        """Add one G step's metrics (they must hold ``D/loss`` and ``G/loss``)."""
        for key, value in metrics.items():
            value = value.float()
            if key in self.sums:
                self.sums[key] += value
            else:
                self.sums[key] = value.clone()
        self.count += 1
        self.finite &= torch.isfinite(metrics["D/loss"]) & torch.isfinite(metrics["G/loss"])

    def reduce(self, context: DistributedContext) -> tuple[dict[str, float], bool]:
        """Average the metrics over steps (and ranks: collective); say whether all were finite.

        Args:
            context: This process's place in the run.

        Returns:
            The means by key (sorted) and whether every D and G loss was finite on every rank.
        """
        keys = sorted(self.sums)
        values = [self.sums[k] / max(self.count, 1) for k in keys]
        bad = (~self.finite).float()
        packed = torch.stack([*values, bad]) if values else bad.reshape(1)
        if context.enabled:
            dist.all_reduce(packed)
            packed[:-1] /= context.world_size
        numbers = packed.tolist()
        return dict(zip(keys, numbers[:-1], strict=True)), numbers[-1] == 0

    def non_finite_error(
        self, step: int, metrics: dict[str, float], last_checkpoint: Path | None
    ) -> NonFiniteLossError:
        """Return the error for a window ending at G step ``step`` whose losses were not finite."""
        last = (
            f"{last_checkpoint} (step {checkpoint_step(last_checkpoint)})"
            if last_checkpoint
            else "none written yet"
        )
        shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if not math.isfinite(v))
        return NonFiniteLossError(
            f"non-finite loss between G steps {self.first_step + 1} and {step} "
            f"({shown or 'see log'}); training stopped, no checkpoint written after it; last "
            f"good checkpoint: {last}; try precision fp32 or lower learning rates"
        )

    def record(
        self, step: int, metrics: dict[str, float], *, elapsed: float, lr_scale: float
    ) -> dict[str, Any]:
        """Return the log record of this window ending at G step ``step``.

        Args:
            step: G steps done.
            metrics: The window's means (`reduce`).
            elapsed: Seconds since the run's `fit` started.
            lr_scale: The learning-rate factor of the window's last step.

        Returns:
            ``step``, ``time``, ``lr_scale``, ``steps_per_s``, ``data_s_per_step`` and the means.
        """
        steps = step - self.first_step
        seconds = time.perf_counter() - self.start
        record: dict[str, Any] = {
            "step": step,
            "time": round(elapsed, 3),
            "lr_scale": lr_scale,
            "steps_per_s": steps / seconds if seconds > 0 else 0.0,
            "data_s_per_step": self.data_s / max(steps, 1),
        }
        record.update(metrics)
        return record


# ------------------------------------------------------------------ log, TensorBoard, progress


def format_duration(seconds: float) -> str:
    """Return ``H:MM:SS`` for a number of seconds (negative counts as 0)."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def truncate_log(path: Path, step: int) -> None:
    """Drop log records after ``step``, so a resumed run's log reads as one uninterrupted run.

    Args:
        path: The run's ``log.jsonl`` (nothing happens when it does not exist).
        step: The resumed step; records of later steps (and lines cut short) are dropped.
    """
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    atomic_write_bytes(path, "".join(k + "\n" for k in kept).encode("utf-8"))


class RunReporter:
    """Rank 0's outputs as a run goes: ``log.jsonl``, TensorBoard and the progress line.

    Args:
        out_dir: The run folder.
        total_steps: The run's G steps (for the progress bar and the time left).
        enabled: False on ranks other than 0: nothing is written or shown.
        quiet: No progress line (the log is still written).
    """

    def __init__(self, out_dir: Path, total_steps: int, *, enabled: bool, quiet: bool) -> None:
        self.out_dir = out_dir
        self.total_steps = total_steps
        self.enabled = enabled
        self.quiet = quiet
        self.tensorboard: Any = None
        """The TensorBoard ``SummaryWriter`` while open (None without TensorBoard)."""
        self._console: Any = None
        self._progress: Any = None
        self._task: Any = None

    def open_tensorboard(self) -> None:
        """Start writing TensorBoard events to ``RUN/tensorboard`` when TensorBoard is installed."""
        if not self.enabled or self.tensorboard is not None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self.tensorboard = SummaryWriter(str(self.out_dir / "tensorboard"))

    def start_progress(self, step: int) -> None:
        """Show a live progress bar from G step ``step`` when writing to a terminal."""
        if self.quiet or not self.enabled or not self.console().is_terminal:
            return
        from ..progress import progress_bar

        self._progress = progress_bar(
            "train", self.console(), bar_width=20, trailing="{task.fields[losses]}"
        )
        self._task = self._progress.add_task(
            "train", total=self.total_steps, completed=step, losses=""
        )
        self._progress.start()

    def close(self) -> None:
        """Stop the progress bar and close TensorBoard."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None

    def console(self) -> Any:
        """Return the rich console on stderr that progress lines go to."""
        from rich.console import Console

        if self._console is None:
            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` to ``log.jsonl`` and its numbers to TensorBoard, then show it."""
        if not self.enabled:
            return
        step = record["step"]
        with open(self.out_dir / LOG_NAME, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, step)
        self.show(record)

    def show(self, record: dict[str, Any]) -> None:
        """Show the main losses and speed: a live progress line on a terminal, else a log line."""
        if self.quiet:
            return
        step = record["step"]
        parts = [f"{short} {record[key]:.3f}" for key, short in PROGRESS_KEYS if key in record]
        rate = record["steps_per_s"]
        losses = "  ".join(parts) + f"  {rate:.2f} it/s"
        if self._progress is not None:
            self._progress.update(self._task, completed=step, losses=losses)
            return
        eta = (self.total_steps - step) / rate if rate > 0 else float("nan")
        eta_text = format_duration(eta) if math.isfinite(eta) else "?"
        line = f"step {step}/{self.total_steps}  {losses}  eta {eta_text}"
        self.console().print(line, markup=False, highlight=False)

    def add_image(self, grid: np.ndarray, step: int) -> None:
        """Add a sample grid (H, W, 3) to TensorBoard when it is open."""
        if self.tensorboard is not None:
            self.tensorboard.add_image("samples", grid, step, dataformats="HWC")


# ----------------------------------------------------------------------------------- samples


def _to_uint8(images: Tensor) -> Tensor:
    """Map (N, C, H, W) floats in [-1, 1] to uint8 (N, 3, H, W)."""
    images = images.detach().float().cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


def sample_indices(labels: Any, count: int) -> list[int]:
    """Choose the fixed sample images: half with the attribute when ``labels`` allow.

    Args:
        labels: The sample dataset's labels (any array-like), or None.
        count: How many images to show.

    Returns:
        ``count`` indices in increasing order: the first positives and negatives, or the first
        ``count`` images without labels.
    """
    if labels is None or count <= 1:
        return list(range(count))
    labels = torch.as_tensor(np.asarray(labels)).reshape(-1)
    pos = torch.nonzero(labels > 0.5).flatten().tolist()
    neg = torch.nonzero(labels <= 0.5).flatten().tolist()
    half = min(count // 2, len(pos))
    chosen = pos[:half] + neg[: count - half]
    chosen += pos[half : half + count - len(chosen)]
    return sorted(chosen)


def sample_grid(generator: Generator, images: Tensor, *, pad: int = 2) -> np.ndarray:
    """Return an (H, W, 3) uint8 grid of ``generator``'s edits, one row per image.

    The columns: input | mask | edit to c=1 | |edit - input| | edit to c=0 | |edit - input|
    (the mask depends on the image only, so it is shown once).

    Args:
        generator: The generator to show (run without gradients; set its mode first).
        images: (N, 3, S, S) images in [-1, 1].
        pad: White pixels between and around the tiles.

    Returns:
        The grid, ready for `save_png`.
    """
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


def save_png(array: np.ndarray, path: Path) -> None:
    """Write an (H, W, 3) uint8 array as a PNG, atomically, creating its folder.

    Args:
        array: The image.
        path: Where it goes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")

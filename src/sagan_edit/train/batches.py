"""Where batches come from: the training data, a seeded, restartable index stream, its fetcher.

Pass ``e`` over the data is a permutation seeded by ``(seed, e)``, so the data order depends only
on the seed and the number of batches already drawn (`IndexStream`); flips are drawn from
``(seed, batch number, rank)`` with `seeded_rng` (`random_flips`). A resumed run restarts the
stream at its batch count and draws the same batches as an uninterrupted one.
`open_training_data` opens a run's ``config.data``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, InitVar, dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..errors import SaGANError, TrainingError
from .config import TrainConfig

__all__ = [
    "BatchFetcher",
    "IndexStream",
    "batch_iterator",
    "dataset_labels",
    "open_training_data",
    "random_flips",
    "seeded_rng",
]


def seeded_rng(*key: int) -> np.random.Generator:
    """Return a numpy generator determined by ``key`` alone (SeedSequence mixes the numbers).

    Args:
        *key: Integers, e.g. ``(seed, FLIP_STREAM, batch, rank)``.

    Returns:
        A fresh generator; the same key always gives the same draws.
    """
    return np.random.default_rng([int(k) for k in key])


#: `seeded_rng` key streams: the passes' permutations, the flips, the balanced batches' draws.
PERMUTATION_STREAM = 0
FLIP_STREAM = 1
BALANCE_STREAM = 2


@dataclass(eq=False)
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

    size: int
    """Items in the dataset."""
    batch_size: int
    """Indices per batch and rank."""
    seed: int
    """Seeds the passes' permutations and the balanced draws."""
    _: KW_ONLY
    start_batch: int = 0
    """The first batch `__iter__` yields (a resumed run's count of batches drawn)."""
    rank: int = 0
    """This process's rank; it takes the ``rank``-th slice of each global batch."""
    world_size: int = 1
    labels: InitVar[Sequence[float] | np.ndarray | Tensor | None] = None
    """Every item's label (balanced streams only)."""
    positive_fraction: float | None = None
    _pools: tuple[np.ndarray, np.ndarray] | None = field(init=False, default=None, repr=False)
    _cached: tuple[int, np.ndarray] | None = field(init=False, default=None, repr=False)

    def __post_init__(self, labels: Sequence[float] | np.ndarray | Tensor | None) -> None:
        if self.size < 1:
            raise ValueError("the dataset is empty")
        if self.positive_fraction is not None:
            if labels is None:
                raise ValueError("positive_fraction needs the labels")
            positive = np.asarray(labels, dtype=np.float64).reshape(-1) > 0.5
            if positive.shape != (self.size,):
                raise ValueError(f"{self.size} items but {positive.shape[0]} labels")
            pools = (np.flatnonzero(positive), np.flatnonzero(~positive))
            if len(pools[0]) == 0 or len(pools[1]) == 0:
                raise ValueError("balanced batches need both positives and negatives")
            self._pools = pools

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != epoch:
            order = seeded_rng(self.seed, PERMUTATION_STREAM, epoch).permutation(self.size)
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
        rng = seeded_rng(self.seed, BALANCE_STREAM, k)
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


class BatchFetcher(Dataset):
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


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """Return every item's label as float32, from the dataset's ``labels`` when it has them.

    Args:
        dataset: ``(image, label)`` items, optionally with a ``labels`` sequence.

    Returns:
        A (N,) array of labels.
    """
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = [float(dataset[i][1]) for i in range(len(dataset))]  # type: ignore[arg-type]
    return np.asarray(torch.as_tensor(labels, dtype=torch.float32).reshape(-1))


def batch_iterator(
    dataset: Dataset,
    stream: IndexStream,
    *,
    num_workers: int = 0,
    seed: int = 0,
    pin_memory: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Return an iterator of the ``(images, labels)`` batches ``stream``'s indices pick.

    Args:
        dataset: ``(image, label)`` items (`BatchFetcher` collates them).
        stream: The index batches, already started at the right batch.
        num_workers: DataLoader worker processes; 0 loads in this process.
        seed: Seed of the DataLoader's own generator (workers only).
        pin_memory: Pin the batches' memory (for CUDA).

    Returns:
        An endless iterator of float32 images (B, 3, S, S) and labels (B,).
    """
    fetcher = BatchFetcher(dataset)
    if num_workers == 0:
        return (fetcher[indices] for indices in stream)
    loader = DataLoader(
        fetcher,
        sampler=stream,  # type: ignore[arg-type]
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        prefetch_factor=4,
        # its own generator: creating the iterator must not draw from torch's global RNG,
        # or a resumed run would diverge from an uninterrupted one
        generator=torch.Generator().manual_seed(seed),
    )
    return iter(loader)


def random_flips(images: Tensor, seed: int, batch: int, rank: int) -> Tensor:
    """Flip each image left-right with probability 1/2, drawn from ``(seed, batch, rank)``.

    Args:
        images: A (B, C, H, W) batch.
        seed: The run's seed.
        batch: The batch's number in the run's stream.
        rank: This process's rank.

    Returns:
        The batch with the drawn images flipped.
    """
    rng = seeded_rng(seed, FLIP_STREAM, batch, rank)
    flips = torch.from_numpy(rng.random(images.shape[0]) < 0.5)
    return torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)


def open_training_data(
    config: TrainConfig, *, samples: bool = True
) -> tuple[TrainConfig, Dataset, Dataset | None]:
    """Open ``config.data``'s split ``config.split`` and (``samples``) its test split, if any.

    The datasets are loaded without flips (the trainer flips) with `sagan_edit.data.load_dataset`.

    Args:
        config: The run's settings (``data``, ``data_format``, the model's attribute and size).
        samples: Also open the test split, for the sample grids.

    Returns:
        The config with ``data_format`` filled in from the data when it was not given, the
        training dataset, and the test split (None without one or when not asked for).

    Raises:
        TrainingError: ``config.data`` is not set.
    """
    if not config.data:
        raise TrainingError("no training data: pass a dataset or set config.data")
    from ..data import load_dataset

    attribute = config.model.attribute
    options = dict(image_size=config.model.image_size, data_format=config.data_format, flip=False)
    dataset = load_dataset(config.data, attribute, split=config.split, **options)
    sample_dataset = None
    if samples:
        try:
            sample_dataset = load_dataset(config.data, attribute, "test", **options)
        except SaGANError:
            sample_dataset = None  # no test split: sample training images
    if not config.data_format:
        config = config.replace(data_format=getattr(dataset, "format", None))
    return config, dataset, sample_dataset

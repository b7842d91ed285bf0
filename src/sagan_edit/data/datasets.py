"""The datasets: `AttributeDataset` and its two sources of pixels, and `load_dataset`.

`ImageFileDataset` decodes image files on every access; `PackedDataset` serves a pack written by
`pack_dataset` without decoding. `load_dataset` opens any layout as one or the other.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ..attributes import canonical_attribute
from ..errors import DatasetError, ImageLoadError
from .decode import _scale, decode_image, to_tensor
from .labels import SPLITS, Split, _split_rows
from .layouts import FORMATS, detect_format, open_source
from .pack import _read_pack_images, _read_pack_meta

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AttributeDataset",
    "ImageFileDataset",
    "OnError",
    "PackedDataset",
    "load_dataset",
]

OnError = Literal["raise", "skip"]


class AttributeDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Face images with one binary attribute: item ``i`` is ``(image, label)``.

    ``image`` is (3, S, S) float32 in [-1, 1], flipped left-right with probability 1/2 when
    ``flip`` is on (drawn from torch's global generator, which DataLoader seeds per worker);
    ``label`` is a 0-d float32 tensor, 1.0 when the face has the attribute.
    Subclasses say where the pixels come from (`ImageFileDataset`, `PackedDataset`).
    """

    def __init__(
        self,
        files: Sequence[str],
        labels: np.ndarray | torch.Tensor | Sequence[float],
        *,
        attribute: str,
        image_size: int,
        flip: bool = False,
        split: str = "all",
        data_format: str = "",
        missing: int = 0,
    ) -> None:
        self.files: list[str] = list(files)
        """Image names (relative to the data set's image folder)."""
        self.labels: torch.Tensor = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
        """(N,) float32 labels, 1.0 = has the attribute."""
        if self.labels.shape != (len(self.files),):
            raise DatasetError(
                f"{len(self.files)} files but labels of shape {tuple(self.labels.shape)}"
            )
        self.attribute = attribute
        """The attribute's canonical name."""
        self.image_size = image_size
        """Side S of the square images served."""
        self.flip = flip
        """Whether items are flipped left-right at random."""
        self.split = split
        """The split these images are: ``"train"``, ``"test"`` or ``"all"``."""
        self.format = data_format
        """The layout they came from (``"celeba"``, ``"celebahq"``, ``"folder"``, ``"packed"``)."""
        self.missing = missing
        """Label rows left out because their image is absent."""
        self.attribute_names: tuple[str, ...] = ()
        """Every attribute of the label file (set by `load_dataset`; empty otherwise)."""
        self.label_matrix: np.ndarray = np.zeros((len(self.files), 0), dtype=np.uint8)
        """(N, len(attribute_names)) uint8, every attribute's labels, 1 = has it (set by
        `load_dataset`; the attribute classifier trains on these)."""

    def with_all_labels(self, names: Sequence[str], matrix: np.ndarray) -> Self:
        """Attach every attribute's labels, (N, len(names)) 0/1, and return the dataset."""
        matrix = np.asarray(matrix, dtype=np.uint8)
        if matrix.shape != (len(self.files), len(names)):
            raise DatasetError(f"label matrix {matrix.shape} does not match {len(self)} images")
        self.attribute_names, self.label_matrix = tuple(names), matrix
        return self

    def __len__(self) -> int:
        return len(self.files)

    @property
    def positive_rate(self) -> float:
        """Fraction of images that have the attribute."""
        return float(self.labels.mean()) if len(self.labels) else 0.0

    def pixels(self, index: int) -> np.ndarray:
        """The unflipped (S, S, 3) uint8 image of item ``index`` (read-only for packs)."""
        return self._load(index)[1]

    def _load(self, index: int) -> tuple[int, np.ndarray]:
        """Return (the index actually served, its pixels); subclasses may serve a substitute."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        served, pixels = self._load(index)
        if self.flip and bool(torch.rand(()) < 0.5):
            pixels = pixels[:, ::-1]
        return to_tensor(pixels), self.labels[served]

    def batch(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return images (B, 3, S, S) and labels (B,) of ``indices`` in one call.

        Faster than a DataLoader over a `PackedDataset` in the training process (one gather, no
        collate); flips (when ``flip`` is on) are drawn from ``generator``.
        """
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        served, pixels = self._load_many(index)
        flips = np.zeros(len(index), dtype=bool)
        if self.flip:
            flips = (torch.rand(len(index), generator=generator) < 0.5).numpy()
        size = self.image_size
        out = np.empty((len(index), 3, size, size), dtype=np.float32)
        for i, image in enumerate(pixels):
            # flip and transpose in one strided copy per image: a separate flip pass costs more
            chw = image.transpose(2, 0, 1)
            out[i] = chw[:, :, ::-1] if flips[i] else chw
        return torch.from_numpy(_scale(out)), self.labels[torch.from_numpy(served)]

    def _load_many(self, index: np.ndarray) -> tuple[np.ndarray, Sequence[np.ndarray]]:
        loaded = [self._load(int(i)) for i in index]
        return np.array([s for s, _ in loaded], dtype=np.int64), [p for _, p in loaded]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.format}, {self.attribute}, split={self.split}, "
            f"{len(self)} images at {self.image_size}px, positive {self.positive_rate:.1%}, "
            f"flip={self.flip})"
        )


class ImageFileDataset(AttributeDataset):
    """An `AttributeDataset` that decodes image files (JPEG, PNG, …) on every access.

    With ``on_error="raise"`` an unreadable image raises `ImageLoadError` naming it; with
    ``"skip"`` it is warned about once, added to ``bad_files`` (of this process: each DataLoader
    worker keeps its own) and the next readable image is served in its place.
    """

    def __init__(
        self,
        image_dir: str | os.PathLike[str],
        files: Sequence[str],
        labels: np.ndarray | torch.Tensor | Sequence[float],
        *,
        image_size: int = 128,
        crop: int | None = None,
        on_error: OnError = "raise",
        data_format: str = "folder",
        **options: Any,
    ) -> None:
        """``options``: the rest of `AttributeDataset`'s keywords (``attribute``, ``flip``...)."""
        super().__init__(files, labels, image_size=image_size, data_format=data_format, **options)
        if on_error not in ("raise", "skip"):
            raise DatasetError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.image_dir = Path(image_dir)
        """The folder the file names are relative to."""
        self.crop = crop
        """Side of the centred square cut before resizing (None: the largest)."""
        self.on_error = on_error
        """``"raise"`` or ``"skip"`` (see the class docstring)."""
        self.bad_files: set[str] = set()
        """Images found unreadable so far in this process (``on_error="skip"``)."""

    def path(self, index: int) -> Path:
        """Full path of item ``index``'s image."""
        return self.image_dir / self.files[index]

    def _load(self, index: int) -> tuple[int, np.ndarray]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        for step in range(len(self)):
            served = (index + step) % len(self)
            if self.files[served] in self.bad_files:
                continue
            try:
                return served, decode_image(self.path(served), self.image_size, self.crop)
            except ImageLoadError as exc:
                if self.on_error == "raise":
                    raise
                self.bad_files.add(self.files[served])
                warnings.warn(f"skipping unreadable image: {exc}", stacklevel=2)
        raise DatasetError(f"{self.image_dir}: none of the {len(self)} images is readable")


class PackedDataset(AttributeDataset):
    """An `AttributeDataset` served from a pack written by `pack_dataset` (no decoding).

    ``images`` is the whole pack's (N, S, S, 3) uint8 array (memory-mapped for raw packs, in
    memory for compressed packs), e.g. to move it to a GPU at once; ``rows`` maps items to its
    rows.
    """

    def __init__(
        self,
        pack_dir: str | os.PathLike[str],
        rows: np.ndarray,
        files: Sequence[str],
        labels: np.ndarray,
        **options: Any,
    ) -> None:
        """``options``: `AttributeDataset`'s keywords (``attribute``, ``image_size``...)."""
        super().__init__(files, labels, data_format="packed", **options)
        self.pack_dir = Path(pack_dir)
        """The pack's folder."""
        self.rows = np.asarray(rows, dtype=np.int64)
        """Pack row of each item."""
        self.source_format: str | None = None
        """Layout of the data the pack was made from (``"celebahq"``, ``"celeba"``, ...)."""
        self._images: np.ndarray | None = None

    @property
    def images(self) -> np.ndarray:
        """The pack's (N, S, S, 3) uint8 images (all rows, not only this split's)."""
        if self._images is None:
            self._images = _read_pack_images(self.pack_dir)
        return self._images

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn re-open the pack instead of receiving a copy
        state = self.__dict__.copy()
        state["_images"] = None
        return state

    def _load(self, index: int) -> tuple[int, np.ndarray]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        return index, self.images[self.rows[index]]

    def _load_many(self, index: np.ndarray) -> tuple[np.ndarray, Sequence[np.ndarray]]:
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"indices out of range for {len(self)} images")
        index = index % max(len(self), 1)
        return index, self.images[self.rows[index]]


def _load_packed(
    path: Path,
    attribute: str,
    split: str,
    image_size: int | None,
    flip: bool,
    limit: int | None,
) -> PackedDataset:
    meta = _read_pack_meta(path)
    size = int(meta["image_size"])
    if image_size is not None and image_size != size:
        raise DatasetError(
            f"{path}: the pack holds {size}x{size} images, not {image_size}; use image size "
            f"{size} or pack again at {image_size}"
        )
    name = canonical_attribute(attribute, tuple(meta["attributes"]))
    try:
        labels = np.load(path / "labels.npy")
        codes = np.load(path / "split.npy")
        files = (path / "files.txt").read_text(encoding="utf-8").split("\n")[: int(meta["count"])]
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: incomplete pack ({Path(exc.filename).name} missing)") from None
    rows = _split_rows(codes, split, path, limit)
    if rows.size == 0:
        held = meta.get("split", "?")
        raise DatasetError(
            f"{path}: no {split} images in this pack (it was packed with split={held})"
        )
    column = list(meta["attributes"]).index(name)
    dataset = PackedDataset(
        path,
        rows,
        [files[r] for r in rows],
        labels[rows, column],
        attribute=name,
        image_size=size,
        flip=flip,
        split=split,
        missing=int(meta.get("missing", 0)),
    )
    dataset.source_format = meta.get("source_format")
    return dataset.with_all_labels(meta["attributes"], labels[rows])


def load_dataset(
    path: str | os.PathLike[str],
    attribute: str,
    split: Split = "train",
    image_size: int | None = None,
    data_format: str | None = None,
    flip: bool | None = None,
    on_error: OnError = "raise",
    limit: int | None = None,
) -> AttributeDataset:
    """Open a data set in any layout for one attribute: the trainer's single entry point.

    ``path``: a data folder (or label CSV) in any layout of `sagan_edit.data`; ``attribute``: any
    spelling of a column name (``Eyeglasses``, ``eyeglasses``, ``mouth slightly open``);
    ``split``: ``"train"``, ``"test"`` or ``"all"``; ``image_size``: side of the served images
    (default 128, or the pack's size); ``data_format``: skip detection; ``flip``: random
    left-right flips (default: on for the train split only); ``on_error``: what an unreadable
    image does (`ImageFileDataset`); ``limit``: keep the first images of the split only.
    """
    path = Path(path)
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if data_format is not None and data_format not in FORMATS:
        raise DatasetError(f"unknown data format {data_format!r}; valid: {', '.join(FORMATS)}")
    if image_size is not None and image_size < 1:
        raise DatasetError(f"image size must be positive, got {image_size}")
    fmt = data_format or detect_format(path)
    flip = split == "train" if flip is None else flip
    if fmt == "packed":
        return _load_packed(path, attribute, split, image_size, flip, limit)
    source = open_source(path, fmt)
    name = source.attribute(attribute)
    rows = source.rows(split, limit)
    if rows.size == 0:
        raise DatasetError(f"{path}: no images in the {split} split")
    column = source.attributes.index(name)
    dataset = ImageFileDataset(
        source.image_dir,
        [source.files[r] for r in rows],
        source.values[rows, column],
        attribute=name,
        image_size=128 if image_size is None else image_size,
        crop=source.crop,
        flip=flip,
        on_error=on_error,
        split=split,
        data_format=fmt,
        missing=source.missing,
    )
    return dataset.with_all_labels(source.attributes, source.values[rows])

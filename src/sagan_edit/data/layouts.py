"""Data layouts on disk: recognising them (`detect_format`) and reading their labels and split.

``celeba`` — official CelebA: ``img_align_celeba/*.jpg`` (also ``Img/img_align_celeba/``),
``list_attr_celeba.txt`` (any ``list_attr_celeba*.txt``; also under ``Anno/``) and, for the
train/test split, ``identity_CelebA.txt``. Images are cut to their centred 178×178 square and
resized to the model size, StarGAN's convention (for the 178×218 originals: rows 20–197).
The split is the paper's (`celeba_identity_split`): 191,649 train / 10,950 test images.
Rows of the attribute file whose image is absent are left out (counted in ``dataset.missing``).

``celebahq`` — CelebA-HQ as in CelebAMask-HQ: ``images/<n>.jpg`` (or ``CelebA-HQ-img/``) and the
attribute file ``attributes.txt`` (or ``CelebAMask-HQ-attribute-anno.txt``): line 1 the image
count, line 2 the 40 names, then ``<file> v1 … v40`` with values 1 / -1. The first 27,000 rows
(images 1–27000) train, the rest (27001–30000) test. Images are centre-squared and resized.

``folder`` — your own data: a folder of images and one CSV file of labels (or the CSV's path;
image names are relative to the CSV's folder, sub-folders allowed)::

    file,Eyeglasses,Smiling
    alice.jpg,1,0
    photos/bob.png,-1,1

The first column (``file``, ``filename``, ``image`` or ``path``) names the image; every other
column is an attribute with values 0/1 or -1/1 (1 = has it). An optional ``split`` column
(``train``/``test``) fixes the split; without it a file is a test image when the CRC-32 of its
name (UTF-8) is divisible by 10 — about 10 %, independent of the row order (if that leaves no
test image in a folder of two or more, the name with the smallest CRC-32 becomes one). Images
are centre-squared (as at inference) and resized.

``packed`` — a folder written by `pack_dataset` (see `sagan_edit.data.pack`), recognised here
and opened by `load_dataset`.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..attributes import canonical_attribute
from ..errors import DatasetError
from .labels import (
    _NO_SPLIT,
    PAPER_TRAIN_IDENTITIES,
    AttributeTable,
    _split_rows,
    celeba_identity_split,
    read_attribute_file,
    read_label_csv,
)

__all__ = [
    "CELEBAHQ_TRAIN_IMAGES",
    "CELEBA_CROP",
    "FORMATS",
    "DataSource",
    "default_data_root",
    "detect_format",
    "open_source",
]

#: Data layouts `load_dataset` understands.
FORMATS: tuple[str, ...] = ("celeba", "celebahq", "folder", "packed")
#: StarGAN's centre crop of official CelebA's 178×218 aligned images.
CELEBA_CROP = 178
#: CelebA-HQ rows 1..27000 train, the rest test.
CELEBAHQ_TRAIN_IMAGES = 27000

_PACK_MAGIC = "sagan-edit-pack"  # meta.json "format" of a pack


def default_data_root(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder that holds the data sets: ``path`` if given, else ``$SAGAN_DATA``.

    Raises `DatasetError` when neither is given; the library has no default data folder.
    """
    if path is not None:
        return Path(path)
    env = os.environ.get("SAGAN_DATA")
    if not env:
        raise DatasetError("no data folder given: set SAGAN_DATA or pass a path")
    return Path(env)


def _first_existing(candidates: Iterable[Path], want_dir: bool) -> Path | None:
    for candidate in candidates:
        if candidate.is_dir() if want_dir else candidate.is_file():
            return candidate
    return None


def _celeba_files(root: Path) -> tuple[Path | None, Path | None, Path | None]:
    """Find (image folder, attribute file, identity file) of an official CelebA folder."""
    image_dir = _first_existing(
        [
            root / "img_align_celeba" / "img_align_celeba",  # Kaggle's zip nests it
            root / "img_align_celeba",
            root / "Img" / "img_align_celeba",
        ],
        want_dir=True,
    )
    if image_dir is not None and image_dir.name == image_dir.parent.name:
        # the nested folder only counts when it really holds the images
        if not any(image_dir.glob("*.jpg")):
            image_dir = image_dir.parent
    attr = identity = None
    for folder in (root, root / "Anno"):
        if attr is None:
            attr = _first_existing([folder / "list_attr_celeba.txt"], want_dir=False)
            if attr is None and folder.is_dir():
                attr = next(iter(sorted(folder.glob("list_attr_celeba*.txt"))), None)
        if identity is None:
            identity = _first_existing([folder / "identity_CelebA.txt"], want_dir=False)
    return image_dir, attr, identity


def _celebahq_files(root: Path) -> tuple[Path | None, Path | None]:
    """Find (image folder, attribute file) of a CelebA-HQ / CelebAMask-HQ folder."""
    image_dir = _first_existing([root / "images", root / "CelebA-HQ-img"], want_dir=True)
    attr = _first_existing(
        [root / "attributes.txt", root / "CelebAMask-HQ-attribute-anno.txt"], want_dir=False
    )
    return image_dir, attr


def _folder_csv(path: Path) -> Path:
    if path.is_file():
        return path
    csvs = sorted(p for p in path.glob("*.csv") if p.is_file())
    if not csvs:
        raise DatasetError(f"{path}: no label CSV in the folder (see sagan_edit.data, 'folder')")
    if len(csvs) > 1:
        labels = [p for p in csvs if p.name == "labels.csv"]
        if not labels:
            names = ", ".join(p.name for p in csvs)
            raise DatasetError(
                f"{path}: several CSV files ({names}); name one or call it labels.csv"
            )
        return labels[0]
    return csvs[0]


def _is_pack(path: Path) -> bool:
    meta = path / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("format") == _PACK_MAGIC
    except (OSError, ValueError, AttributeError):
        return False


def detect_format(path: str | os.PathLike[str]) -> str:
    """Recognise a data layout: ``"celeba"``, ``"celebahq"``, ``"folder"`` or ``"packed"``.

    A CSV file is a ``folder`` layout; a folder is ``packed`` when it holds a pack's
    ``meta.json``, ``celeba`` when it holds ``img_align_celeba/`` or ``list_attr_celeba*.txt``,
    ``celebahq`` when it holds ``attributes.txt``/``CelebAMask-HQ-attribute-anno.txt`` or
    ``CelebA-HQ-img/``, and ``folder`` when it holds a CSV file.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "folder"
        raise DatasetError(f"{path}: expected a data folder or a label CSV file")
    if _is_pack(path):
        return "packed"
    image_dir, attr, _ = _celeba_files(path)
    if image_dir is not None or attr is not None:
        return "celeba"
    image_dir, attr = _celebahq_files(path)
    if attr is not None or (path / "CelebA-HQ-img").is_dir():
        return "celebahq"
    if any(path.glob("*.csv")):
        return "folder"
    raise DatasetError(
        f"{path}: not a data folder sagan-edit knows: expected img_align_celeba/ + "
        "list_attr_celeba.txt (CelebA), images/ + attributes.txt (CelebA-HQ), a label CSV "
        "(folder) or a pack (meta.json)"
    )


@dataclass
class DataSource:
    """An image data set on disk: its files, every attribute's labels and the split."""

    format: str
    """``"celeba"``, ``"celebahq"`` or ``"folder"``."""
    image_dir: Path
    """The folder the file names are relative to."""
    files: list[str]
    """Image names whose files exist, in label-file order."""
    attributes: tuple[str, ...]
    """Attribute names as the label file spells them."""
    values: np.ndarray
    """(N, len(attributes)) uint8, 1 where the image has the attribute."""
    split: np.ndarray
    """(N,) int8: 0 train, 1 test (2: CelebA without an identity file, no split)."""
    crop: int | None
    """Side of the centred square cut before resizing; None: the largest one."""
    missing: int = 0
    """Label rows left out because their image file does not exist."""
    label_file: Path | None = None
    """Where the labels were read from."""

    def attribute(self, name: str) -> str:
        """Resolve a user-typed attribute name among this source's columns."""
        return canonical_attribute(name, self.attributes)

    def rows(self, split: str, limit: int | None = None) -> np.ndarray:
        """Indices of the rows in ``split`` (first ``limit`` of them, in order)."""
        where = self.label_file.parent if self.label_file else self.image_dir
        return _split_rows(self.split, split, where, limit)


def _existing(image_dir: Path, files: Sequence[str]) -> np.ndarray:
    """Boolean mask of the names whose file exists (one directory listing for flat names)."""
    if all("/" not in f and "\\" not in f for f in files):
        try:
            present = set(os.listdir(image_dir))
        except OSError:  # no readable folder: nothing exists, and open_source says so
            return np.zeros(len(files), dtype=bool)
        return np.fromiter((f in present for f in files), dtype=bool, count=len(files))
    return np.fromiter(((image_dir / f).is_file() for f in files), dtype=bool, count=len(files))


def open_source(path: str | os.PathLike[str], data_format: str | None = None) -> DataSource:
    """Read the labels and split of an image data set (any layout but ``packed``)."""
    path = Path(path)
    fmt = data_format or detect_format(path)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown data format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "packed":
        raise DatasetError(f"{path}: is already a pack; open it with load_dataset")
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if fmt == "celeba":
        source = _open_celeba(path)
    elif fmt == "celebahq":
        source = _open_celebahq(path)
    else:
        source = _open_folder(path)
    if not source.files:
        raise DatasetError(
            f"{source.image_dir}: none of the {source.missing} images named in "
            f"{source.label_file} exists"
        )
    return source


def _keep_existing(
    fmt: str,
    image_dir: Path,
    table: AttributeTable,
    split: np.ndarray,
    crop: int | None,
    label_file: Path,
) -> DataSource:
    exists = _existing(image_dir, table.files)
    return DataSource(
        format=fmt,
        image_dir=image_dir,
        files=[f for f, ok in zip(table.files, exists, strict=True) if ok],
        attributes=table.attributes,
        values=table.values[exists],
        split=split[exists],
        crop=crop,
        missing=int((~exists).sum()),
        label_file=label_file,
    )


def _open_celeba(root: Path) -> DataSource:
    image_dir, attr, identity = _celeba_files(root)
    if image_dir is None:
        raise DatasetError(f"{root}: no img_align_celeba/ image folder (official CelebA layout)")
    if attr is None:
        raise DatasetError(
            f"{root}: no list_attr_celeba.txt attribute file (official CelebA layout)"
        )
    table = _cached(attr, read_attribute_file)
    if identity is not None:
        train_set = _cached(identity, _train_set)
        split = np.array([0 if f in train_set else 1 for f in table.files], dtype=np.int8)
    else:
        split = np.full(len(table.files), _NO_SPLIT, dtype=np.int8)  # only split="all" works
    return _keep_existing("celeba", image_dir, table, split, CELEBA_CROP, attr)


def _train_set(identity_file: Path) -> frozenset[str]:
    return frozenset(celeba_identity_split(identity_file, PAPER_TRAIN_IDENTITIES)[0])


_CACHE: dict[tuple[str, str, int, int, int], Any] = {}


def _cached(path: Path, parse: Callable[[Path], Any]) -> Any:
    """``parse(path)``, remembered while the file is unchanged: a trainer opens train and test."""
    stat = path.stat()
    key = (
        parse.__name__,
        str(path.resolve()),
        stat.st_mtime_ns,
        stat.st_size,
        PAPER_TRAIN_IDENTITIES,
    )
    if key not in _CACHE:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = parse(path)
    return _CACHE[key]


def _open_celebahq(root: Path) -> DataSource:
    image_dir, attr = _celebahq_files(root)
    if attr is None:
        raise DatasetError(f"{root}: no attributes.txt attribute file (CelebA-HQ layout)")
    if image_dir is None:
        raise DatasetError(f"{root}: no images/ folder (CelebA-HQ layout)")
    table = _cached(attr, read_attribute_file)
    split = (np.arange(len(table.files)) >= CELEBAHQ_TRAIN_IMAGES).astype(np.int8)
    return _keep_existing("celebahq", image_dir, table, split, None, attr)


def _open_folder(path: Path) -> DataSource:
    label_csv = _folder_csv(path)
    table = read_label_csv(label_csv)
    split = table.split
    if split is None:
        hashes = np.array([zlib.crc32(f.encode("utf-8")) for f in table.files], dtype=np.int64)
        split = (hashes % 10 == 0).astype(np.int8)
        if not split.any() and len(split) >= 2:
            split[int(np.argmin(hashes))] = 1
    return _keep_existing("folder", label_csv.parent, table, split, None, label_csv)

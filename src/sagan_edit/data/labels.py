"""Label files and splits: the attribute-file, label-CSV and identity-file readers, split codes.

A data set's split is held as one int8 code per image: 0 train, 1 test; `celeba_identity_split`
computes the paper's CelebA split from ``identity_CelebA.txt``.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DatasetError

__all__ = [
    "PAPER_TRAIN_IDENTITIES",
    "SPLITS",
    "AttributeTable",
    "Split",
    "celeba_identity_split",
    "read_attribute_file",
    "read_identity_file",
    "read_label_csv",
]

#: Split names; ``"all"`` is train and test together.
SPLITS: tuple[str, ...] = ("train", "test", "all")
#: The paper's training identities: the 8,177 people with the most images (Section 4.1).
PAPER_TRAIN_IDENTITIES = 8177

Split = Literal["train", "test", "all"]

_FILE_COLUMNS = ("file", "filename", "image", "path")
_SPLIT_CODE = {"train": 0, "test": 1}
_UNUSABLE = -1  # split code of a packed row whose image could not be read
_NO_SPLIT = 2  # split code of CelebA rows when there is no identity file to split by


@dataclass
class AttributeTable:
    """Binary labels read from a label file: one row per image, one column per attribute."""

    files: list[str]
    """Image names, as written in the file."""
    attributes: tuple[str, ...]
    """Column names, as written in the file."""
    values: np.ndarray
    """(len(files), len(attributes)) uint8, 1 where the image has the attribute."""
    split: np.ndarray | None = None
    """(len(files),) int8 from a ``split`` column (0 train, 1 test), when the file has one."""


def _open_text(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, expected the {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the {what} ({exc})") from None


def read_attribute_file(path: str | os.PathLike[str]) -> AttributeTable:
    """Read a CelebA-style attribute file (``list_attr_celeba.txt``, CelebA-HQ ``attributes.txt``).

    Line 1 is the image count (not checked: partial copies keep the full count), line 2 the
    attribute names, then ``<file> v1 … vK`` per image with values 1 / -1 (0 is read as -1).
    """
    path = Path(path)
    lines = _open_text(path, "attribute file")
    start = 0
    if lines and len(lines[0].split()) == 1 and lines[0].strip().isdigit():
        start = 1
    if len(lines) <= start or not lines[start].split():
        raise DatasetError(f"{path}: no header line of attribute names")
    names = tuple(lines[start].split())
    body = lines[start + 1 :]
    # one split of the whole body is ~10x faster than line by line on CelebA's 202,599 rows;
    # the line-by-line pass below only runs to say where a malformed file goes wrong
    tokens = " ".join(body).split()
    width = len(names) + 1
    if len(tokens) == width * sum(1 for line in body if line.strip()):
        files = tokens[::width]
        del tokens[::width]
        # 3 bytes hold every valid value; a longer token truncates to 3 characters, never valid
        values = np.array(tokens, dtype="S3").reshape(len(files), len(names))
        if ((values == b"1") | (values == b"-1") | (values == b"0")).all():
            return AttributeTable(files, names, (values == b"1").astype(np.uint8))
    for number, line in enumerate(body, start=start + 2):
        fields = line.split()
        if fields and len(fields) != width:
            raise DatasetError(
                f"{path}:{number}: expected a file name and {len(names)} values, "
                f"got {len(fields)} fields"
            )
        if any(v not in ("1", "-1", "0") for v in fields[1:]):
            raise DatasetError(f"{path}:{number}: values must be 1 or -1")
    raise DatasetError(f"{path}: malformed attribute file")  # unreachable: a line is bad


def _csv_value(text: str) -> int | None:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number in (-1.0, 0.0, 1.0) else None


def read_label_csv(path: str | os.PathLike[str]) -> AttributeTable:
    """Read an own-data label CSV: ``file,<Attr1>,<Attr2>…`` (0/1 or -1/1), optional ``split``."""
    path = Path(path)
    lines = _open_text(path, "label CSV")
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader, [])]
    if not header or header[0].lower() not in _FILE_COLUMNS:
        raise DatasetError(
            f"{path}: the first column must be the image name, headed 'file' "
            f"(got {header[0] if header else 'an empty file'!r})"
        )
    lowered = [h.lower() for h in header]
    split_col = lowered.index("split") if "split" in lowered else None
    columns = [i for i in range(1, len(header)) if i != split_col]
    if not columns:
        raise DatasetError(f"{path}: no attribute columns after {header[0]!r}")
    files: list[str] = []
    values: list[list[int]] = []
    splits: list[int] = []
    for number, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(header):
            raise DatasetError(f"{path}:{number}: expected {len(header)} fields, got {len(row)}")
        out = []
        for i in columns:
            value = _csv_value(row[i])
            if value is None:
                raise DatasetError(
                    f"{path}:{number}: {header[i]} is {row[i]!r}; labels must be 0/1 or -1/1"
                )
            out.append(value)
        if split_col is not None:
            word = row[split_col].strip().lower()
            if word not in _SPLIT_CODE:
                raise DatasetError(
                    f"{path}:{number}: split is {row[split_col]!r}; use train or test"
                )
            splits.append(_SPLIT_CODE[word])
        files.append(row[0].strip())
        values.append(out)
    if not files:
        raise DatasetError(f"{path}: no image rows")
    array = np.array(values, dtype=np.int8).reshape(len(files), len(columns))
    return AttributeTable(
        files,
        tuple(header[i] for i in columns),
        (array == 1).astype(np.uint8),
        np.array(splits, dtype=np.int8) if split_col is not None else None,
    )


def read_identity_file(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read ``identity_CelebA.txt`` (``<file> <identity>`` per line, an optional header line).

    Returns the file names and their identity numbers as an int64 array.
    """
    path = Path(path)
    lines = _open_text(path, "identity file")
    first = lines[0].split() if lines else []
    header = len(first) == 2 and not first[1].isdigit()
    if header:
        lines = lines[1:]  # some redistributions add a header line such as "image identity"
    tokens = np.array(" ".join(lines).split())
    if tokens.size and tokens.size == 2 * sum(1 for line in lines if line.strip()):
        table = tokens.reshape(-1, 2)
        if np.char.isdigit(table[:, 1]).all():
            return table[:, 0].tolist(), table[:, 1].astype(np.int64)
    for number, line in enumerate(lines, start=2 if header else 1):
        fields = line.split()
        if fields and (len(fields) != 2 or not fields[1].isdigit()):
            raise DatasetError(f"{path}:{number}: expected '<file> <identity number>'")
    raise DatasetError(f"{path}: no identity rows")


def celeba_identity_split(
    identity_file: str | os.PathLike[str], train_identities: int = PAPER_TRAIN_IDENTITIES
) -> tuple[list[str], list[str]]:
    """Return the paper's (train_files, test_files): the 8,177 identities with most images train.

    Identities are ranked by their number of images, most first, and ties by identity number,
    smallest first; the first ``train_identities`` train, the rest test. Both lists keep the
    identity file's order. On the official file (10,177 identities) this gives 191,649 train and
    10,950 test images, the paper's figures. The boundary falls among the 202 identities with
    exactly 10 images (8,167 have more), so any tie rule gives these counts; the identity-number
    rule is the simplest that is deterministic and independent of the file's row order.
    """
    files, ids = read_identity_file(identity_file)
    counts = Counter(ids.tolist())
    if len(counts) <= train_identities:
        raise DatasetError(
            f"{identity_file}: {len(counts)} identities, but the split trains on "
            f"{train_identities} and needs more for a test set"
        )
    ranked = sorted(counts, key=lambda identity: (-counts[identity], identity))
    train_ids = set(ranked[:train_identities])
    train = [f for f, i in zip(files, ids.tolist(), strict=True) if i in train_ids]
    test = [f for f, i in zip(files, ids.tolist(), strict=True) if i not in train_ids]
    return train, test


def _split_rows(codes: np.ndarray, split: str, where: Path, limit: int | None) -> np.ndarray:
    """Indices of the rows whose split code is ``split`` (the first ``limit`` of them)."""
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be positive, got {limit}")
    rows = _rows_of(codes, split, where)
    return rows if limit is None else rows[:limit]


def _rows_of(codes: np.ndarray, split: str, where: Path) -> np.ndarray:
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if split == "all":
        return np.flatnonzero(codes != _UNUSABLE)
    if (codes == _NO_SPLIT).any():
        raise DatasetError(
            f"{where}: no identity_CelebA.txt, which the paper's train/test split needs; "
            "add it or use split='all'"
        )
    return np.flatnonzero(codes == _SPLIT_CODE[split])

"""The pack format: a data set decoded once (`pack_dataset`), served by `load_dataset`.

A pack is a folder written by `pack_dataset`: the images already decoded, cropped and resized,
in one ``images.npy`` (uint8, (N, S, S, 3), memory-mapped) or compressed (JPEG/WebP, to carry to
another machine; decoded into memory when opened), with every attribute's labels
(``labels.npy``), each image's split (``split.npy``), the image names (``files.txt``) and
``meta.json``, written last. `load_dataset` serves it as a `PackedDataset`, with the same dataset
API; flips are applied on the fly. Unreadable source images are skipped and recorded in the
pack, so a packed run never meets one.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from ..errors import DatasetError, ImageLoadError, first_line
from ..fileio import atomic_path, atomic_write_bytes
from .decode import decode_image
from .labels import _UNUSABLE, Split
from .layouts import _PACK_MAGIC, _cached, open_source

__all__ = ["PackInfo", "pack_dataset"]

_PACK_VERSION = 1
_ENCODINGS = {"raw": "", "jpeg": "JPEG", "webp": "WEBP"}  # pack encoding -> PIL format


@dataclass
class PackInfo:
    """What `pack_dataset` wrote."""

    path: Path
    """The pack folder."""
    count: int
    """Rows written, unreadable ones included (they are never served)."""
    image_size: int
    """Side of the packed images."""
    encoding: str
    """``"raw"``, ``"jpeg"`` or ``"webp"``."""
    bytes: int
    """Size of the image data on disk."""
    bad_files: list[str] = field(default_factory=list)
    """Images that could not be read and were left out."""


def _read_pack_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: not a pack (no meta.json)") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}/meta.json: unreadable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _PACK_MAGIC:
        raise DatasetError(f"{path}/meta.json: not a sagan-edit pack")
    if meta.get("version") != _PACK_VERSION:
        raise DatasetError(
            f"{path}: pack version {meta.get('version')} is not supported; repack it"
        )
    return meta


def _read_pack_images(path: Path) -> np.ndarray:
    meta = _read_pack_meta(path)
    size, count = int(meta["image_size"]), int(meta["count"])
    try:
        if meta["encoding"] == "raw":
            images = np.load(path / "images.npy", mmap_mode="r")
        else:  # decoded once per process: train and test datasets share it
            images = _cached(path / "images.bin", _decode_compressed_pack)
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: incomplete pack ({Path(exc.filename).name} missing)") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: corrupt pack ({first_line(exc)})") from None
    if images.shape != (count, size, size, 3) or images.dtype != np.uint8:
        raise DatasetError(f"{path}: corrupt pack (images {images.shape} {images.dtype})")
    return images


def _decode_compressed_pack(blob_path: Path) -> np.ndarray:
    path = blob_path.parent
    meta = _read_pack_meta(path)
    size, count = int(meta["image_size"]), int(meta["count"])
    offsets = np.load(path / "offsets.npy")
    blob = blob_path.read_bytes()
    if offsets.shape != (count + 1,) or int(offsets[-1]) != len(blob):
        raise ValueError("images.bin and offsets.npy disagree")
    images = np.zeros((count, size, size, 3), dtype=np.uint8)

    def decode(i: int) -> None:
        start, end = int(offsets[i]), int(offsets[i + 1])
        if end > start:  # unreadable source images were stored empty
            with Image.open(io.BytesIO(blob[start:end])) as image:
                images[i] = np.asarray(image.convert("RGB"))

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(decode, range(count)))
    return images


def pack_dataset(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    image_size: int = 128,
    split: Split = "all",
    data_format: str | None = None,
    encoding: Literal["raw", "jpeg", "webp"] = "raw",
    quality: int = 90,
    limit: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PackInfo:
    """Decode a data set once into a pack folder that `load_dataset` serves without decoding.

    The pack holds the ``split`` rows (first ``limit``) of ``path``, cropped and resized to
    ``image_size`` exactly as the file loaders do, every attribute's labels and each row's split,
    so one pack serves any attribute (and, for ``split="all"``, train and test).

    ``encoding="raw"`` writes ``images.npy``, uint8 (N, S, S, 3), memory-mapped when read:
    49,152 bytes per image at 128 (1.33 GB for CelebA-HQ's 27,000 training images), 12,288 at
    64 (332 MB). ``"jpeg"`` and ``"webp"`` compress each image at ``quality`` into ``images.bin``,
    to carry data to another machine; such a pack is decoded into memory when opened. Measured
    on CelebA-HQ 128, for its 27,000 training images: JPEG q90 154 MB (0.2 grey levels mean
    error: the source's own quality), q75 95 MB (3.1); WebP q70 57 MB (3.4), q60 50 MB (3.7).

    Unreadable images are skipped and listed in ``PackInfo.bad_files`` and ``meta.json``.
    ``workers`` decoding threads (default: CPU count); ``progress(done, total)`` is called as
    images are done. Every file is written atomically, ``meta.json`` last, so an interrupted
    pack is never mistaken for a complete one.
    """
    out = Path(out)
    if encoding not in _ENCODINGS:
        raise DatasetError(f"encoding must be one of {', '.join(_ENCODINGS)}, got {encoding!r}")
    if not 1 <= quality <= 100:
        raise DatasetError(f"quality must be 1..100, got {quality}")
    if image_size < 1:
        raise DatasetError(f"image size must be positive, got {image_size}")
    source = open_source(path, data_format)
    rows = source.rows(split, limit)
    if rows.size == 0:
        raise DatasetError(f"{path}: no {split} images to pack")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"{out}: folder is not empty (pass overwrite=True to replace a pack)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)  # the pack is invalid until it is complete

    count, size = len(rows), image_size
    codes = source.split[rows].copy()

    def decode(row: int) -> np.ndarray | None:
        try:
            return decode_image(source.image_dir / source.files[row], size, source.crop)
        except ImageLoadError:
            return None

    def encode(row: int) -> bytes | None:
        pixels = decode(row)
        if pixels is None:
            return None
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, _ENCODINGS[encoding], quality=quality)
        return buffer.getvalue()

    work: Callable[[int], Any] = decode if encoding == "raw" else encode

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:

        def done() -> Iterable[tuple[int, Any]]:
            chunk = 256  # bounded look-ahead: results are written as they come
            for start in range(0, count, chunk):
                yield from enumerate(pool.map(work, rows[start : start + chunk]), start)
                if progress is not None:
                    progress(min(start + chunk, count), count)

        if encoding == "raw":
            data_bytes = _write_raw(out / "images.npy", (count, size, size, 3), done(), codes)
        else:
            data_bytes = _write_compressed(out, count, done(), codes)
    bad = [source.files[rows[i]] for i in np.flatnonzero(codes == _UNUSABLE)]
    stale = ("images.bin", "offsets.npy") if encoding == "raw" else ("images.npy",)
    for name in stale:  # left by an overwritten pack of the other encoding
        (out / name).unlink(missing_ok=True)

    _save_npy(out / "labels.npy", source.values[rows])
    _save_npy(out / "split.npy", codes)
    atomic_write_bytes(out / "files.txt", "\n".join(source.files[r] for r in rows).encode("utf-8"))
    meta = {
        "format": _PACK_MAGIC,
        "version": _PACK_VERSION,
        "count": count,
        "image_size": size,
        "encoding": encoding,
        "quality": None if encoding == "raw" else quality,
        "attributes": list(source.attributes),
        "split": split,
        "source": str(Path(path)),
        "source_format": source.format,
        "crop": source.crop,
        "missing": source.missing,
        "bad_files": bad,
    }
    atomic_write_bytes(out / "meta.json", (json.dumps(meta, indent=1) + "\n").encode("utf-8"))
    return PackInfo(out, count, size, encoding, data_bytes, bad)


def _write_raw(
    path: Path,
    shape: tuple[int, ...],
    images: Iterable[tuple[int, np.ndarray | None]],
    codes: np.ndarray,
) -> int:
    """Write decoded images into one uint8 .npy; unreadable rows stay zero, marked unusable."""
    with atomic_path(path) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        for i, pixels in images:
            if pixels is None:
                codes[i] = _UNUSABLE
            else:
                array[i] = pixels
        array.flush()
        del array
    return path.stat().st_size


def _write_compressed(
    out: Path, count: int, blobs: Iterable[tuple[int, bytes | None]], codes: np.ndarray
) -> int:
    """Write encoded images end to end into images.bin, their offsets into offsets.npy."""
    offsets = np.zeros(count + 1, dtype=np.int64)
    with atomic_path(out / "images.bin") as tmp, open(tmp, "wb") as handle:
        for i, blob in blobs:
            if blob is None:
                codes[i] = _UNUSABLE
                blob = b""  # stored empty
            handle.write(blob)
            offsets[i + 1] = offsets[i] + len(blob)
    _save_npy(out / "offsets.npy", offsets)
    return int(offsets[-1])


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)

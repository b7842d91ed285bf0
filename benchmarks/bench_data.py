"""Measure how fast `sagan_edit.data` serves training images: JPEG decoding against a packed cache.

Run from the project root (about a minute on 2 cores; the numbers are images per second)::

    python benchmarks/bench_data.py                      # CelebA-HQ 128 from $SAGAN_DATA
    python benchmarks/bench_data.py --images 3000 --size 64 --workers 1 2

Everything runs in this one process (and its DataLoader workers), one after the other, so on a
shared machine compare the **ratios** between rows rather than the absolute figures. Each row is
the best of ``--repeats`` passes. A GPU training at the paper preset needs about 3,000 images/s
(50 steps/s of batch 16, plus 3 discriminator batches per step: the trainer decides how many
images a step draws).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from sagan_edit.data import (
    AttributeDataset,
    DatasetError,
    default_data_root,
    load_dataset,
    pack_dataset,
)

TARGET = 3000.0  # images/s a GPU consumes at the paper preset (issue 3)


def best_rate(count: int, run: Callable[[], None], repeats: int) -> float:
    """Images per second of the fastest of ``repeats`` runs of ``run`` (which serves ``count``)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def per_item(dataset: AttributeDataset) -> Callable[[], None]:
    """Index the dataset item by item in this process, as num_workers=0 does."""

    def run() -> None:
        for i in range(len(dataset)):
            dataset[i]

    return run


def loader(dataset: AttributeDataset, workers: int, batch: int) -> Callable[[], None]:
    """Iterate a shuffled DataLoader; worker start-up is counted, as it is once per epoch."""

    def run() -> None:
        data = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers)
        for _ in data:
            pass

    return run


def batched(dataset: AttributeDataset, batch: int) -> Callable[[], None]:
    """Draw random batches with `AttributeDataset.batch` (no DataLoader)."""
    generator = torch.Generator().manual_seed(0)

    def run() -> None:
        order = torch.randperm(len(dataset), generator=generator).numpy()
        for start in range(0, len(order), batch):
            dataset.batch(order[start : start + batch], generator)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="default: $SAGAN_DATA/celebahq128")
    parser.add_argument("--images", type=int, default=2000, help="train images to serve")
    parser.add_argument("--size", type=int, default=128, help="image size served")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--attribute", default="eyeglasses")
    args = parser.parse_args(argv)
    args.data = args.data or default_data_root() / "celebahq128"

    try:
        jpeg = load_dataset(args.data, args.attribute, "train", args.size, limit=args.images)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = len(jpeg)
    print(f"data: {args.data} ({jpeg.format}), {count} train images at {args.size}px")
    print(f"torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}\n")

    def report(name: str, rate: float) -> float:
        print(f"  {name:<44} {rate:>9,.0f} img/s  ({rate / TARGET:.2f}x the GPU's 3,000)")
        return rate

    jpeg_item = report(
        "JPEG, in process (num_workers=0)", best_rate(count, per_item(jpeg), args.repeats)
    )
    jpeg_best = jpeg_item
    for workers in args.workers:
        rate = best_rate(count, loader(jpeg, workers, args.batch), args.repeats)
        jpeg_best = max(jpeg_best, report(f"JPEG, DataLoader num_workers={workers}", rate))

    tmp = Path(tempfile.mkdtemp(prefix="sagan-bench-"))
    try:
        rates = {}
        for threads in sorted({1, max(args.workers)}):
            start = time.perf_counter()
            info = pack_dataset(
                args.data, tmp / f"pack{threads}", image_size=args.size, split="train",
                limit=args.images, workers=threads,
            )  # fmt: skip
            rates[threads] = report(
                f"pack_dataset (decode + write), {threads} thread(s)",
                count / (time.perf_counter() - start),
            )
        pack = tmp / f"pack{max(rates)}"
        packed = load_dataset(pack, args.attribute, "train", args.size)
        packed_item = report(
            "packed, in process (num_workers=0)", best_rate(count, per_item(packed), args.repeats)
        )
        packed_loader = report(
            f"packed, DataLoader num_workers=0 batch={args.batch}",
            best_rate(count, loader(packed, 0, args.batch), args.repeats),
        )
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        report(
            "packed, DataLoader num_workers=0, torch threads 1",
            best_rate(count, loader(packed, 0, args.batch), args.repeats),
        )
        torch.set_num_threads(threads)
        packed_batch = report(
            f"packed, dataset.batch() batch={args.batch}",
            best_rate(count, batched(packed, args.batch), args.repeats),
        )
        print()
        print(f"packed vs JPEG in process:          {packed_item / jpeg_item:5.1f}x")
        print(f"packed DataLoader vs best JPEG one: {packed_loader / jpeg_best:5.1f}x")
        print(f"packed batch() vs best JPEG:        {packed_batch / jpeg_best:5.1f}x")
        if len(rates) > 1:
            print(
                f"packing with {max(rates)} threads vs 1:      {rates[max(rates)] / rates[1]:5.2f}x"
            )

        per_image = info.bytes / count
        print(f"\nraw pack: {per_image:,.0f} bytes/image; 27,000 train images: "
              f"{per_image * 27000 / 1e9:.2f} GB")  # fmt: skip
        sample = min(count, 500)
        for encoding, quality in (("jpeg", 90), ("jpeg", 75), ("webp", 70), ("webp", 60)):
            small = pack_dataset(
                args.data, tmp / f"{encoding}{quality}", image_size=args.size, split="train",
                limit=sample, encoding=encoding, quality=quality,
            )  # fmt: skip
            start = time.perf_counter()
            opened = load_dataset(small.path, args.attribute, "train", args.size)
            opened.pixels(0)  # a compressed pack is decoded when first used
            rate = sample / (time.perf_counter() - start)
            error = np.mean([
                np.abs(opened.pixels(i).astype(int) - jpeg.pixels(i)).mean() for i in range(sample)
            ])  # fmt: skip
            per_image = small.bytes / sample
            print(f"{encoding} pack q{quality}: {per_image:,.0f} bytes/image, 27,000 train images "
                  f"{per_image * 27000 / 1e6:.0f} MB, mean error {error:.2f} grey levels, "
                  f"opened at {rate:,.0f} img/s")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

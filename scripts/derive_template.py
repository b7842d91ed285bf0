"""Measure where the face detector puts the landmarks on a data set's training crops.

Prints the template (fractions of the crop side) that `sagan_edit.align` fits faces to; the
constants CELEBAHQ_TEMPLATE and CELEBA_TEMPLATE were measured with:

    python scripts/derive_template.py ../shared/data/celebahq128 --limit 1000
    python scripts/derive_template.py ../shared/data/celeba --limit 32

A model trained on another crop style stores its own template in ``config.json``
(``face_template``); put this script's output there.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sagan_edit.align import derive_template, get_detector
from sagan_edit.data import detect_format, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a data folder in any layout sagan_edit.data reads")
    parser.add_argument("--limit", type=int, default=2000, help="images to measure")
    parser.add_argument("--size", type=int, default=None, help="crop side (default: native)")
    args = parser.parse_args()
    size = args.size or {"celeba": 178}.get(detect_format(args.data), 128)
    dataset = load_dataset(  # the first images: all in the train split of either layout
        args.data, "Eyeglasses", split="all", image_size=size, flip=False,
        on_error="skip", limit=args.limit,
    )  # fmt: skip
    images = (
        ((dataset[i][0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
        for i in range(len(dataset))
    )
    start = time.perf_counter()
    template, used, skipped = derive_template(images, get_detector())
    seconds = time.perf_counter() - start
    print(f"{used} faces measured, {skipped} images skipped (no face or several), {seconds:.0f} s")
    print("template (x, y) as fractions of the side:")
    print(tuple(tuple(round(float(v), 4) for v in point) for point in template))


if __name__ == "__main__":
    main()

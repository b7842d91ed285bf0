"""Check the fixed attribute boxes of `sagan_edit.evaluate` against the aligned data.

    python scripts/check_attribute_boxes.py runs/pack-hq64

For each of the paper's attributes, the per-pixel difference between the mean training face with
the attribute and the mean face without it (absolute, averaged over colour) shows where the
attribute lives, plus whatever correlates with it (hair, gender, background). Prints the box, its
share of the crop and its share of that difference.
"""

from __future__ import annotations

import sys

import numpy as np

from sagan_edit.attributes import PAPER_ATTRIBUTES, canonical_attribute
from sagan_edit.data import load_dataset
from sagan_edit.evaluate import attribute_region, region_mask


def main(data: str) -> None:
    train = load_dataset(data, "Eyeglasses", split="train", flip=False)
    images = np.stack([train.pixels(i) for i in range(len(train))]).astype(np.float32)
    for alias in PAPER_ATTRIBUTES:
        attribute = canonical_attribute(alias)
        column = train.attribute_names.index(attribute)
        has = train.label_matrix[:, column] == 1
        difference = np.abs(images[has].mean(0) - images[~has].mean(0)).mean(-1)
        box = attribute_region(attribute)
        inside = region_mask(box, train.image_size).numpy()
        print(
            f"{attribute:20s} box x {box[0]:.2f}-{box[2]:.2f} y {box[1]:.2f}-{box[3]:.2f}: "
            f"{inside.mean():.1%} of the crop, {difference[inside].sum() / difference.sum():.1%} "
            f"of the difference; mean difference inside / outside "
            f"{difference[inside].mean():.1f} / {difference[~inside].mean():.1f} levels"
        )


if __name__ == "__main__":
    main(sys.argv[1])

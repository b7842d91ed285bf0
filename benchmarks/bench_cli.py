"""Measure ``sagan-edit`` on a folder: faces batched across files against one file at a time.

    python benchmarks/bench_cli.py                  # 16 images, both models, crops and photos
    python benchmarks/bench_cli.py --images 8 --repeats 2 --cases crops

The command line runs in this process (``sagan_edit.cli.main``), once per batch size in turn,
``--repeats`` times, so torch is imported once and every run loads its model the same way; the
ratios compare runs made one after the other in the same process (read them, not the seconds,
on a shared machine). Cases:

* ``crops``: aligned face crops (``--no-align``): the generator is most of the work;
* ``photos``: 512x512 photos, each face found and aligned (needs the ``align`` extra).

Each case runs the embedded 64x64 model (``--attr eyeglasses``) and a random model of the paper's
size (128x128, base 32). The outputs of every batch size are checked to be byte-identical.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sagan_edit import SaGAN, SaGANConfig
from sagan_edit.cli import main as cli_main
from sagan_edit.hardware import describe_cpu

PHOTO = Path(__file__).parents[1] / "examples" / "astronaut.png"
FACE = (144, 26, 304, 186)
"""The face region of the example photo (left, top, right, bottom)."""


def make_inputs(folder: Path, count: int, photos: bool) -> Path:
    """Write ``count`` different images: jittered face crops, or jittered 512x512 photos."""
    folder.mkdir(parents=True)
    source = Image.open(PHOTO).convert("RGB")
    rng = np.random.default_rng(0)
    for i in range(count):
        dx, dy = (int(v) for v in rng.integers(-8, 9, size=2))
        if photos:
            image = source.crop((dx + 8, dy + 8, dx + 8 + 496, dy + 8 + 496)).resize((512, 512))
        else:
            left, top, right, bottom = FACE
            image = source.crop((left + dx, top + dy, right + dx, bottom + dy)).resize((128, 128))
        if i % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.save(folder / f"img{i:03d}.png")
    return folder


def run_cli(args: list[str]) -> float:
    """Run ``sagan-edit ARGS`` in this process; return its wall time (it must succeed)."""
    start = time.perf_counter()
    try:
        cli_main(args)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"sagan-edit {' '.join(args)} exited with {exc.code}") from None
    return time.perf_counter() - start


def measure(inputs: Path, model: list[str], batches: list[int], repeats: int, tmp: Path) -> dict:
    """Median seconds per folder for each batch size, runs interleaved; outputs compared."""
    times: dict[int, list[float]] = {b: [] for b in batches}
    outputs: dict[int, list[bytes]] = {}
    for _ in range(repeats):
        for batch in batches:
            out = tmp / f"out-{batch}"
            args = [str(inputs), *model, "-d", str(out), "--force", "-q", "--device", "cpu"]
            times[batch].append(run_cli([*args, "--batch-size", str(batch)]))
            outputs[batch] = [p.read_bytes() for p in sorted(out.iterdir())]
    first = outputs[batches[0]]
    identical = all(outputs[b] == first for b in batches)
    return {b: statistics.median(t) for b, t in times.items()} | {"identical": identical}


def main() -> None:
    """Parse the options, run every case, print one row per case and batch size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=["crops", "photos"])
    args = parser.parse_args()
    print(f"cpu: {describe_cpu()}", flush=True)
    print(f"\n{'case':<40}{'batch':>6}{'s/folder':>10}{'images/s':>10}{'vs batch 1':>12}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        torch.manual_seed(0)
        paper = SaGAN(SaGANConfig("eyeglasses")).save_pretrained(tmp / "paper-128")
        models = {"64 px (embedded)": ["--attr", "eyeglasses"],
                  "128 px (paper size, random)": ["--weights", str(paper)]}  # fmt: skip
        for case in args.cases:
            inputs = make_inputs(tmp / case, args.images, photos=case == "photos")
            options = [] if case == "photos" else ["--no-align"]
            for label, model in models.items():
                result = measure(inputs, [*model, *options], args.batches, args.repeats, tmp)
                base = result[args.batches[0]]
                for batch in args.batches:
                    seconds = result[batch]
                    row = f"{args.images} {case}, {label}"
                    print(f"{row:<40}{batch:>6}{seconds:>10.2f}{args.images / seconds:>10.1f}"
                          f"{base / seconds:>11.2f}x", flush=True)  # fmt: skip
                print(f"{'':<40}outputs byte-identical: {result['identical']}", flush=True)


if __name__ == "__main__":
    main()

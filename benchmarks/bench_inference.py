"""Measure editing speed: the project's generator paths against a plain fp32 eager generator, and
whole photos end to end.

    python benchmarks/bench_inference.py                       # everything below
    python benchmarks/bench_inference.py --sizes 64 --batches 16 --no-photos

Side by side in one process (compare the ratios, not the seconds, on a shared machine):

* ``plain fp32``: `plain_sagan.PlainGenerator`, Table 1 written plainly, float32, eager;
* ``default``: `sagan_edit.inference.GeneratorRunner` with ``dtype="auto"`` (bf16 and channels-last
  where the device has native bf16, else fp32 eager);
* ``compiled``: the default plus ``torch.compile`` (the first calls compile; timed after warm-up);
* at 64x64 (base 16) and 128x128 (base 32), batch 1 and 16; then ``SaGAN.edit`` on a 1-MP and a
  12-MP photo (the example photo upscaled), split into detection, edit and total.

The CPU's features are printed first. On CUDA the clock is read after synchronising.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from plain_sagan import PlainGenerator  # noqa: E402

from sagan_edit import SaGAN, SaGANConfig  # noqa: E402
from sagan_edit.hardware import describe_cpu  # noqa: E402
from sagan_edit.inference import GeneratorRunner, choose_settings  # noqa: E402
from sagan_edit.model import select_device  # noqa: E402
from sagan_edit.networks import Generator  # noqa: E402

PHOTO = Path(__file__).parents[1] / "examples" / "astronaut.png"


def seconds_per_call(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after two warm-up calls."""
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.inference_mode()
def generator_rows(size: int, batch: int, device: torch.device, repeats: int) -> list[tuple]:
    """Time plain fp32, the default path and the compiled path for one size and batch."""
    base = 16 if size <= 64 else 32
    images = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    attribute = torch.ones(batch, device=device)
    plain = PlainGenerator(base).to(device).eval()
    rows = [("plain fp32", seconds_per_call(lambda: plain(images, attribute), device, repeats))]
    for name, compile in (("default", False), ("compiled", True)):
        settings = choose_settings(device, "auto", compile=compile)
        runner = GeneratorRunner(Generator(base).to(device).eval(), settings)
        layout = ", channels_last" if settings.channels_last else ""
        label = f"{name} ({settings.precision}{layout})"
        seconds = seconds_per_call(lambda r=runner: r(images, attribute), device, repeats)
        rows.append((label, seconds))
    return [(f"{size}px b{batch} {name}", t, rows[0][1] / t) for name, t in rows]


def photo_rows(megapixels: float, device: torch.device, repeats: int) -> list[tuple]:
    """Time `SaGAN.edit` end to end on the example photo upscaled to ``megapixels``."""
    side = int((megapixels * 1e6) ** 0.5)
    photo = Image.open(PHOTO).convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    model = SaGAN(SaGANConfig("eyeglasses", image_size=128)).to(device)
    from sagan_edit.align import get_detector

    detector = get_detector()
    pixels = np.asarray(photo)
    detect = seconds_per_call(lambda: detector.detect(pixels, min_face_size=80), device, repeats)
    total = seconds_per_call(lambda: model.edit(photo, detector=detector), device, repeats)
    return [(f"{megapixels:g}-MP photo: detection", detect, None),
            (f"{megapixels:g}-MP photo: edit end to end", total, None)]  # fmt: skip


def main() -> None:
    """Parse the options, time everything, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-photos", action="store_true", help="skip the end-to-end photos")
    args = parser.parse_args()
    device = select_device(args.device)
    print(f"cpu: {describe_cpu()}\ndevice: {device}", flush=True)
    print(f"\n{'what':<52}{'s/call':>10}{'images/s':>10}{'vs plain fp32':>15}", flush=True)
    for size in args.sizes:
        for batch in args.batches:
            show(generator_rows(size, batch, device, args.repeats), batch)
    if not args.no_photos:
        for megapixels in (1, 12):
            show(photo_rows(megapixels, device, max(1, args.repeats // 2)), 1)


def show(rows: list[tuple], batch: int) -> None:
    """Print measured rows as they come (a long run shows progress)."""
    for name, seconds, ratio in rows:
        shown = f"{ratio:.2f}x" if ratio is not None else ""
        print(f"{name:<52}{seconds:>10.4f}{batch / seconds:>10.1f}{shown:>15}", flush=True)


if __name__ == "__main__":
    main()

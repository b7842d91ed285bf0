"""Measure editing speed: the project's generator paths against a plain fp32 eager generator, and
whole photos end to end.

    python benchmarks/bench_inference.py                       # everything below
    python benchmarks/bench_inference.py --sizes 64 --batches 16 --no-photos

Side by side in one process, the paths taking turns, best of ``--repeats`` rounds (compare the
ratios, not the seconds, on a shared machine):

* ``plain fp32``: `plain_sagan.PlainGenerator`, Table 1 written plainly, float32, eager;
* ``default``: `sagan_edit.inference.GeneratorRunner` with ``dtype="auto"`` (bf16 and channels-last
  where the device has native bf16, else fp32 eager);
* ``compiled``: the default plus ``torch.compile`` (the first calls compile; timed after warm-up,
  in rounds of its own);
* ``batch-invariant`` (batches only): the default with ``batch_invariant=True``, as the command
  line runs it: in fp32 on a CPU each image gets exactly its batch-of-one result;
* at 64x64 (base 16) and 128x128 (base 32), batch 1 and 16; then ``SaGAN.edit`` on a 1-MP and a
  12-MP photo (the example photo upscaled), split into detection, edit and total.

The CPU's features are printed first. On CUDA the clock is read after synchronising.

``--cast`` times instead, on a CPU, bf16 autocast (the default where bf16 is native) against the
weights cast to bf16, eager and frozen (``torch.jit.trace`` + ``torch.jit.freeze``), and plain
fp32, ratios against the default.

``--fusion`` times instead InstanceNorm + ReLU fused (the fp32 CPU question of
`sagan_edit.inference`): the embedded 64x64 generator eager, with each pair fused by hand, and
with each pair compiled alone, at batch 16 and 1 (round robin, best of ``--repeats``), and the
norms' share of the eager time.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from plain_sagan import PlainGenerator  # noqa: E402

from sagan_edit import SaGAN, SaGANConfig  # noqa: E402
from sagan_edit.hardware import describe_cpu  # noqa: E402
from sagan_edit.inference import GeneratorRunner, choose_settings  # noqa: E402
from sagan_edit.model import select_device  # noqa: E402
from sagan_edit.networks import Generator  # noqa: E402

PHOTO = Path(__file__).parents[1] / "examples" / "astronaut.png"


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call of ``fn``; on CUDA the device is synchronised before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def seconds_per_call(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after two warm-up calls."""
    times = [time_call(fn, device) for _ in range(repeats + 2)]
    return statistics.median(times[2:])


def round_robin(
    calls: dict[str, Callable[[], object]], device: torch.device, repeats: int
) -> dict[str, float]:
    """Best wall time of each call over ``repeats`` rounds, the calls taking turns.

    Each call is warmed up twice first (compilation). On a shared machine the load changes from
    one second to the next; taking turns exposes every call to the same load, and the best of
    several rounds is the least disturbed one.
    """
    best = dict.fromkeys(calls, float("inf"))
    for round_ in range(repeats + 2):
        for label, call in calls.items():
            seconds = time_call(call, device)
            if round_ >= 2:
                best[label] = min(best[label], seconds)
    return best


@torch.inference_mode()
def generator_rows(size: int, batch: int, device: torch.device, repeats: int) -> list[tuple]:
    """Time plain fp32, the default, compiled and batch-invariant paths for one size and batch."""
    base = 16 if size <= 64 else 32
    images = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    attribute = torch.ones(batch, device=device)
    plain = PlainGenerator(base).to(device).eval()
    calls: dict[str, Callable[[], object]] = {"plain fp32": lambda: plain(images, attribute)}
    compiled: dict[str, Callable[[], object]] = {}
    paths = [("default", False, False), ("compiled", True, False)]
    if batch > 1:
        paths.append(("batch-invariant", False, True))
    for name, compile, invariant in paths:
        settings = choose_settings(device, "auto", compile=compile)
        runner = GeneratorRunner(Generator(base).to(device).eval(), settings)
        layout = ", channels_last" if settings.channels_last else ""
        label = f"{name} ({settings.precision}{layout})"
        (compiled if compile else calls)[label] = lambda r=runner, i=invariant: r(
            images, attribute, batch_invariant=i
        )
    # Compiled code runs its own thread pool; taking turns with it slowed the eager calls after
    # it (0.67x where alone they ran at 1.0x), so it is timed in rounds of its own, next.
    best = round_robin(calls, device, repeats) | round_robin(compiled, device, repeats)
    return [(f"{size}px b{batch} {name}", t, best["plain fp32"] / t) for name, t in best.items()]


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


class HandFusedNormReLU(nn.Module):
    """InstanceNorm (affine) + ReLU in three kernels: ``var_mean``, one ``addcmul``, ``relu_``."""

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise per image and channel, scale and shift, clamp at 0."""
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, unbiased=False)
        scale = self.norm.weight[None, :, None, None] * torch.rsqrt(var + self.norm.eps)
        shift = self.norm.bias[None, :, None, None] - mean * scale
        return torch.addcmul(shift, x, scale).relu_()


class CompiledNormReLU(HandFusedNormReLU):
    """InstanceNorm + ReLU as one ``torch.compile`` region (Inductor fuses the pair)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(instance_norm(x))``, compiled."""
        return _compiled_norm_relu(x, self.norm.weight, self.norm.bias, self.norm.eps)


def _norm_relu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    return F.relu(F.instance_norm(x, weight=weight, bias=bias, eps=eps))


_compiled_norm_relu = torch.compile(_norm_relu, dynamic=False)


def fuse_pairs(generator: nn.Module, fused: type[nn.Module]) -> nn.Module:
    """A copy of ``generator`` with every InstanceNorm -> ReLU pair replaced by ``fused``."""
    generator = copy.deepcopy(generator)
    for module in generator.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.InstanceNorm2d) and isinstance(module[i + 1], nn.ReLU):
                    module[i], module[i + 1] = fused(module[i]), nn.Identity()
    return generator


@torch.inference_mode()
def fusion_rows(batch: int, repeats: int) -> list[tuple]:
    """Time the embedded 64x64 generator eager, hand-fused and pair-compiled (fp32, CPU)."""
    eager = SaGAN.from_pretrained("eyeglasses", device="cpu", dtype="fp32").generator
    images, attribute = torch.rand(batch, 3, 64, 64) * 2 - 1, torch.ones(batch)
    with torch.profiler.profile() as profile:
        eager(images, attribute)
    events = profile.key_averages()
    norms = sum(e.self_cpu_time_total for e in events if e.key == "aten::native_batch_norm")
    share = norms / sum(e.self_cpu_time_total for e in events)
    calls = {f"64px b{batch} eager fp32 (norms {share:.0%})": lambda: eager(images, attribute)}
    reference = eager(images, attribute)
    for name, fused in (("hand-fused", HandFusedNormReLU), ("pairs compiled", CompiledNormReLU)):
        generator = fuse_pairs(eager, fused)
        start = time.perf_counter()
        worst = (generator(images, attribute).amn_image - reference.amn_image).abs().max()
        first = time.perf_counter() - start
        label = f"64px b{batch} {name} (1st {first:.1f} s, diff {worst:.0e})"
        calls[label] = lambda g=generator: g(images, attribute)
    rows = list(round_robin(calls, torch.device("cpu"), repeats).items())
    return [(name, t, rows[0][1] / t) for name, t in rows]


class CastBf16(nn.Module):
    """A generator with bf16 weights, channels-last: G's two networks run in bf16 on a bf16 copy
    of the input, the blend with the float32 input stays float32 (as the default path's)."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        generator = copy.deepcopy(generator).to(torch.bfloat16, memory_format=torch.channels_last)
        self.amn, self.san = generator.amn, generator.san

    def forward(self, images: torch.Tensor, attribute: torch.Tensor) -> torch.Tensor:
        """``amn * mask + images * (1 - mask)``, the networks in bf16, the blend in float32."""
        return blend_bf16(self.amn, self.san, images, attribute)

    def frozen(self, images: torch.Tensor, attribute: torch.Tensor) -> Callable[[], object]:
        """A call of this generator with its networks traced and frozen for these inputs."""
        low = images.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            amn = torch.jit.freeze(torch.jit.trace(self.amn, (low, attribute.bfloat16())))
            san = torch.jit.freeze(torch.jit.trace(self.san, (low,)))
        return lambda: blend_bf16(amn, san, images, attribute)


def blend_bf16(
    amn: Callable[..., torch.Tensor],
    san: Callable[..., torch.Tensor],
    images: torch.Tensor,
    attribute: torch.Tensor,
) -> torch.Tensor:
    """Run AMN and SAN in bf16 on a bf16 channels-last copy of ``images``; blend in float32."""
    low = images.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    edit, mask = amn(low, attribute.to(torch.bfloat16)).float(), san(low).float()
    return edit * mask + images * (1 - mask)


@torch.inference_mode()
def cast_rows(size: int, batch: int, repeats: int) -> list[tuple]:
    """Time bf16 autocast (the default on a native-bf16 CPU) against bf16 weights, eager and
    frozen, and plain fp32; ratios against the default."""
    base = 16 if size <= 64 else 32
    images = torch.rand(batch, 3, size, size) * 2 - 1
    attribute = torch.ones(batch)
    plain, generator = PlainGenerator(base).eval(), Generator(base).eval()
    default = GeneratorRunner(
        copy.deepcopy(generator), choose_settings(torch.device("cpu"), "bf16")
    )
    cast = CastBf16(generator)
    with torch.inference_mode(False):
        frozen = cast.frozen(images, attribute)
    calls = {
        f"{size}px b{batch} bf16 autocast (default)": lambda: default(images, attribute),
        f"{size}px b{batch} plain fp32": lambda: plain(images, attribute),
        f"{size}px b{batch} bf16 weights": lambda: cast(images, attribute),
        f"{size}px b{batch} bf16 weights, frozen": frozen,
    }
    rows = list(round_robin(calls, torch.device("cpu"), repeats).items())
    return [(name, t, rows[0][1] / t) for name, t in rows]


def main() -> None:
    """Parse the options, time everything, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-photos", action="store_true", help="skip the end-to-end photos")
    parser.add_argument("--fusion", action="store_true", help="time InstanceNorm+ReLU fusion")
    parser.add_argument("--cast", action="store_true", help="time bf16 weights, eager and frozen")
    args = parser.parse_args()
    device = select_device(args.device)
    print(f"cpu: {describe_cpu()}\ndevice: {device}", flush=True)
    if args.fusion or args.cast:
        print(f"\n{'what':<52}{'s/call':>10}{'images/s':>10}{'vs first row':>15}", flush=True)
        for batch in args.batches:
            if args.fusion:
                show(fusion_rows(batch, args.repeats), batch)
            if args.cast:
                for size in args.sizes:
                    show(cast_rows(size, batch, args.repeats), batch)
        return
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

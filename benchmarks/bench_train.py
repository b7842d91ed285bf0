"""Measure training speed: generator steps per second of the trainer's default settings (which
pick bf16 and channels-last where the hardware pays, `sagan_edit.hardware`) against plain fp32
eager, and where the time goes (data loading, the ``n_critic`` D steps, the G step).

Run from the project root; at the paper preset (128x128, batch 16, 32 base channels) a step takes
seconds on a CPU, so keep ``--steps`` small::

    python benchmarks/bench_train.py                          # paper preset, synthetic images
    python benchmarks/bench_train.py --data ../shared/data/celebahq128 --attr eyeglasses
    python benchmarks/bench_train.py --image-size 64 --base-channels 16 --steps 10
    python benchmarks/bench_train.py --image-size 64 --base-channels 16 --variants fp32 fp32-cl \
        bf16 bf16-cl default                          # every layout and precision
    python benchmarks/bench_train.py --image-size 64 --base-channels 16 --variants fp32 \
        --generators attention none residual         # the paper's comparison's three generators

The CPU's features are printed first; the last column is each row's speed as a multiple of the
first row (plain fp32 eager by default), measured in the same run.

One training iteration is what `sagan_edit.train.Trainer.train_iteration` runs: 3 batches drawn,
3 D steps (each with a no-grad G pass and the fp32 gradient penalty), one G step. Every variant
runs in this one process, one after the other, with the same weights and batches, so on a shared
machine compare the **ratios** between rows rather than the absolute figures. On CUDA the clock
is read after ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from sagan_edit.hardware import describe_cpu, has_native_bf16
from sagan_edit.model import select_device
from sagan_edit.train import TrainConfig, Trainer

# The synthetic images are the tests' toy faces (tests/synthetic.py), not part of the library.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import SyntheticMarkDataset  # noqa: E402

#: Variant name -> (precision, channels_last); ``default`` is what a plain `TrainConfig` picks.
VARIANTS: dict[str, tuple[str, bool | None]] = {
    "fp32": ("fp32", False),
    "fp32-cl": ("fp32", True),
    "bf16": ("bf16", False),
    "bf16-cl": ("bf16", True),
    "default": ("auto", None),
}


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock timings are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` and return its result and duration in seconds."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def measure(trainer: Trainer, steps: int, warmup: int) -> dict[str, float]:
    """Time ``steps`` iterations (after ``warmup``); return medians per iteration, in seconds."""
    device = trainer.device
    rows: list[dict[str, float]] = []
    for i in range(warmup + steps):
        trainer.generator.train()
        trainer.discriminator.train()
        data_s = d_s = 0.0
        for _ in range(trainer.config.n_critic):
            (real, label), seconds = timed(device, trainer.next_batch)
            data_s += seconds
            _, seconds = timed(device, partial(trainer.train_discriminator_step, real, label))
            d_s += seconds
        _, g_s = timed(device, partial(trainer.train_generator_step, real, label))
        trainer.step += 1
        if i >= warmup:
            rows.append({"data": data_s, "d_steps": d_s, "g_step": g_s})
    result = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    result["total"] = sum(result[k] for k in ("data", "d_steps", "g_step"))
    result["steps_per_s"] = 1.0 / result["total"]
    return result


def _name(row: dict[str, Any]) -> str:
    generator = "" if row["generator"] == "attention" else f"{row['generator']} "
    name = row["variant"]
    if name == "default":
        name += f" ({row['precision']}{', channels_last' if row['channels_last'] else ''})"
    return generator + name


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed iterations per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--residual-blocks", type=int, default=4)
    parser.add_argument("--disc-layers", type=int, default=None, help="default: paper's 6")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=None,
        help="default: fp32 and default, plus bf16-cl where the device has native bf16",
    )
    parser.add_argument(
        "--generators", nargs="+", default=["attention"], help="generator variants to time"
    )
    parser.add_argument("--data", default=None, help="a data folder (default: synthetic images)")
    parser.add_argument("--attr", default="eyeglasses")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args()


def run_variants(
    args: argparse.Namespace, dataset: Any, names: list[str], disc_layers: int
) -> tuple[list[dict[str, Any]], torch.device]:
    """Time every (variant, generator) pair; return one row each and the device used."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for generator in args.generators:
            for name in names:
                precision, channels_last = VARIANTS[name]
                config = TrainConfig().replace(
                    attribute=args.attr,
                    image_size=args.image_size,
                    base_channels=args.base_channels,
                    disc_base_channels=args.base_channels,
                    num_residual_blocks=args.residual_blocks,
                    disc_layers=disc_layers,
                    batch_size=args.batch_size,
                    device=args.device,
                    precision=precision,
                    channels_last=channels_last,
                    variant=generator,
                )
                trainer = Trainer(config, dataset, tmp, quiet=True)
                row = measure(trainer, args.steps, args.warmup)
                row.update(
                    variant=name,
                    precision=trainer.precision,
                    channels_last=trainer.channels_last,
                    generator=generator,
                )
                results.append(row)
                print(f"measured {_name(row)}: {row['total']:.2f} s per G step", flush=True)
    return results, trainer.device


def print_table(results: list[dict[str, Any]]) -> None:
    """Print one row per measurement: speed, where the time goes, ratio to the first row."""
    header = f"{'variant':<32}{'G steps/s':>10}{'s/step':>9}{'data':>14}{'3 D steps':>16}"
    print(header + f"{'G step':>16}{'vs first':>10}")
    base = results[0]["total"]
    for r in results:
        name = _name(r)
        parts = "".join(
            f"{r[k]:>8.3f}s {100 * r[k] / r['total']:>4.0f}%" for k in ("data", "d_steps", "g_step")
        )
        print(
            f"{name:<32}{r['steps_per_s']:>10.3f}{r['total']:>9.2f}  {parts}"
            f"{base / r['total']:>9.2f}x"
        )


def main() -> None:
    """Parse the options, run every variant and print a table (and optionally JSON)."""
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"cpu: {describe_cpu()}", flush=True)
    names = args.variants or ["fp32", "default"]
    if args.variants is None and has_native_bf16(select_device(args.device)):
        names.append("bf16-cl")

    disc_layers = args.disc_layers or TrainConfig().model.disc_layers
    if args.data:
        from sagan_edit.data import load_dataset

        dataset: Any = load_dataset(args.data, args.attr, "train", args.image_size, flip=False)
        source = f"{args.data} ({len(dataset)} images, decoded on the fly)"
    else:
        dataset = SyntheticMarkDataset(64, args.image_size)
        source = "synthetic images held in memory"

    results, device = run_variants(args, dataset, names, disc_layers)
    print()
    print(
        f"device {device} ({torch.get_num_threads()} CPU threads), {args.image_size}x"
        f"{args.image_size}, batch {args.batch_size}, base {args.base_channels}, "
        f"{args.residual_blocks} residual blocks, D {disc_layers} layers; data: {source}; "
        f"median of {args.steps} iterations (3 D steps + 1 G step each)"
    )
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()

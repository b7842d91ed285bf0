"""Train on synthetic bar faces, scoring the edits every 100 steps (the training guide's recipes).

    python scripts/synthetic_recipe.py attention 1000 --seed 0
    python scripts/synthetic_recipe.py concat 1000 --warmup 10 500 --threads 1
    python scripts/synthetic_recipe.py attention 300 --lambda-cls 1    # before the default was 10

Variants: ``attention`` (as shipped), ``concat`` (the attribute as a 4th input channel of L1,
Table 1 taken literally), ``pm1`` (the attribute fed as -1/+1). ``--warmup START STEPS`` raises
lambda_2 linearly from START to 100 over STEPS generator steps. Prints one JSON line per 100
steps (``--score-every``): the share of held-out faces whose bar error an edit halves (``add``,
``remove``), the mean error ratios, and the mask's mean inside and outside the bar. 64x64, base
16, batch 16, constant learning rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from learning_check import synthetic_scores  # noqa: E402
from synthetic import SyntheticMarkDataset  # noqa: E402

from sagan_edit import networks  # noqa: E402
from sagan_edit.train import TrainConfig, Trainer  # noqa: E402


def use_attribute_input(variant: str) -> None:
    """Swap AMN's L1 attribute input for the variant's (same weights, other wiring)."""
    if variant == "concat":

        def forward(self, image, attribute):  # noqa: ANN001, ANN202
            plane = attribute.to(image.dtype).view(-1, 1, 1, 1).expand(-1, 1, *image.shape[2:])
            return F.relu(self.norm(self.conv(torch.cat([image, plane], 1))))

        networks.AttributeInput.forward = forward
    elif variant == "pm1":
        original = networks.AttributeInput.forward
        networks.AttributeInput.forward = lambda self, i, a: original(self, i, 2 * a - 1)


def scores(generator: torch.nn.Module, data: SyntheticMarkDataset) -> dict[str, float]:
    """Per-direction success (bar error halved) and the mask's place (`synthetic_scores`)."""
    found = synthetic_scores(generator, data)
    kept = ("add_error", "remove_error", "mask_in", "mask_out")
    return {"add": found["added"], "remove": found["removed"], **{k: found[k] for k in kept}}


def main() -> None:
    """Parse the options, train, print the scores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["attention", "concat", "pm1"])
    parser.add_argument("steps", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=float, nargs=2, default=None, metavar=("START", "STEPS"))
    parser.add_argument("--lambda-cls", type=float, default=TrainConfig.lambda_cls)
    parser.add_argument("--score-every", type=int, default=100, metavar="STEPS")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/synthetic-recipe"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    use_attribute_input(args.variant)
    warmup = {}
    if args.warmup:
        start, steps = args.warmup
        warmup = {"lambda_rec_id_start": start, "lambda_rec_id_warmup": int(steps)}
    train = SyntheticMarkDataset(2000, 64, seed=args.seed)
    held_out = SyntheticMarkDataset(200, 64, seed=10_000 + args.seed)
    config = TrainConfig().replace(
        image_size=64, base_channels=16, disc_base_channels=16, batch_size=16, steps=args.steps,
        lr_decay_fraction=0, seed=args.seed, sample_every=0, checkpoint_every=0, log_every=50,
        precision="fp32", lambda_cls=args.lambda_cls, **warmup,
    )  # fmt: skip
    out = args.out / f"{args.variant}-{args.seed}"
    trainer = Trainer(config, train, out, sample_dataset=held_out, quiet=True)
    start = time.time()
    while trainer.step < args.steps:
        trainer.train_iteration()
        if trainer.step % 50 == 0:
            trainer._flush_window()  # the run's log.jsonl, as fit() writes it
        if trainer.step % args.score_every == 0:
            row = {"step": trainer.step, "seconds": round(time.time() - start)}
            row |= {k: round(v, 3) for k, v in scores(trainer.generator, held_out).items()}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

"""Export a finished CPU training run as a small embedded bf16 model, measured as `sagan-edit eval`.

Used for the models in ``src/sagan_edit/weights/`` (the embedded aliases)::

    python scripts/export_cpu_model.py runs/smiling-64-cpu src/sagan_edit/weights/smiling \\
        --hours 1.6 --eval-out runs/eval/smiling-64-cpu --history "..."

1. loads the generator the run saved at its end (``RUN/model``) and casts it to bf16, as it ships;
2. writes it with a model card saying what the model is and is not: its size, steps, time, CPU,
   how the run went (``--history``), and the data (CelebA-HQ train split);
3. evaluates that bf16 model like ``sagan-edit eval`` on the 3,000 CelebA-HQ test images, judged
   by the shipped attribute classifier, writes the report to ``--eval-out`` and the headline
   figures into the card, saying whether it meets the acceptance figure (>= 85 % editing accuracy
   in each direction).

The data path is ``--data`` or ``$SAGAN_DATA/celebahq128``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from sagan_edit import SaGAN
from sagan_edit.classifier import AttributeClassifier
from sagan_edit.data import default_data_root, load_dataset
from sagan_edit.evaluate import SHIPPED_JUDGE, EvaluationReport, evaluate
from sagan_edit.hardware import describe_cpu
from sagan_edit.hub import PRETRAINED
from sagan_edit.train import TrainConfig

ACCEPTANCE = 0.85


def description(model: SaGAN, run: TrainConfig, hours: float, share: float, history: str) -> str:
    """The model card's text: what the model is, what it is not, and how it was trained."""
    size, training = model.config.image_size, model.config.extra["training"]
    attribute = model.attribute
    return (
        "**A small model trained on a 2-core CPU, not the paper's configuration.** It exists so "
        f"that a newcomer sees a real edit offline. It runs at {size}x{size} with "
        f"{model.config.base_channels} base channels (the paper: 128x128, 32) and was trained "
        f"for {training['generator steps']} generator steps at batch {training['batch size']} "
        f"(the paper's optimiser and loss weights, except {departures(run)}; our default length "
        f"is 20,000 steps) in about {hours:g} hours on a 2-core CPU "
        f"({describe_cpu()}), on the "
        f"CelebA-HQ train split (images 1-27000, downscaled to {size}x{size}), with balanced "
        f"batches (half of the images with {attribute}; {share:.1%} have it). `value=True` "
        f"edits a face towards {attribute}, `value=False` away from it. Edits are coarse at "
        "this size and length, not the paper's quality."
        + (f" {history}" if history else "")
        + "\n\nCelebA-HQ is for non-commercial research only; use these weights accordingly."
    )


def departures(run: TrainConfig) -> str:
    """The run's departures from the paper's loss weights, as a clause of the description."""
    clause = f"lambda_2 = {run.lambda_rec_id:g} instead of 100"
    if run.lambda_cls != 1:
        clause += f", the attribute term weighted {run.lambda_cls:g}"
    if run.cls_warmup_steps:
        clause += (
            f", and {run.cls_warmup_steps} D steps on the attribute loss alone before the first "
            "G step (the training guide's recipe)"
        )
    if run.ema_decay:
        clause += f"; the model is the moving average of G's weights (decay {run.ema_decay:g})"
    return clause


def verdict(report: EvaluationReport) -> str:
    """One sentence: does the model meet the acceptance figure in each direction?"""
    accuracy = {name: getattr(report, name).editing_accuracy for name in ("add", "remove")}
    figures = ", ".join(f"{name} {value:.1%}" for name, value in accuracy.items())
    meets = all(value >= ACCEPTANCE for value in accuracy.values())
    head = (
        "It meets the project's acceptance figure"
        if meets
        else "**It falls short of the project's acceptance figure**"
    )
    images = report.add.images + report.remove.images
    return (
        f"{head} (>= {ACCEPTANCE * 100:g} % editing accuracy in each direction): {figures}, judged "
        f"by the shipped classifier on the {images:,} test images."
    )


def measure(model: SaGAN, data: Path, out: Path) -> EvaluationReport:
    """Evaluate ``model`` on the test split like ``sagan-edit eval``; save the report in ``out``."""
    test = load_dataset(data, model.attribute, split="test", image_size=model.config.image_size)
    report, grid = evaluate(
        model, test, classifier=AttributeClassifier.from_pretrained(device=model.device),
        settings={"model": model.attribute, "data": data.name, "judge": SHIPPED_JUDGE},
    )  # fmt: skip
    report.save(out, grid)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the training run's folder (sagan-edit train --out)")
    parser.add_argument("out", type=Path, help="where to write the model folder")
    parser.add_argument("--hours", type=float, required=True, help="training wall time")
    parser.add_argument("--history", default="", help="how the run went, for the card")
    parser.add_argument("--eval-out", type=Path, required=True, help="folder for the evaluation")
    parser.add_argument("--data", type=Path, default=None, help="CelebA-HQ-128 folder")
    args = parser.parse_args()
    data = args.data or default_data_root() / "celebahq128"

    model = SaGAN.from_pretrained(args.run / "model", device="cpu").to(torch.bfloat16)
    train = load_dataset(data, model.attribute, split="train", image_size=8)
    share = float(train.labels.float().mean())
    extra = model.config.extra
    run = TrainConfig.load(args.run)
    extra["description"] = description(model, run, args.hours, share, args.history)
    if args.out.name in PRETRAINED:  # the folder of an embedded model is named by its alias
        extra["alias"] = args.out.name
    extra["datasets"] = ["CelebA-HQ"]
    extra["license_name"] = "celeba-non-commercial-research"
    extra["training"] |= {
        "data": f"CelebA-HQ-128 (images 1-27000), at {model.config.image_size}x"
        f"{model.config.image_size}",
        "wall time": f"about {args.hours:g} h on a 2-core CPU",
        "CPU": describe_cpu(),
    }
    model.save_pretrained(args.out)  # the card without figures until the evaluation is in
    report = measure(SaGAN.from_pretrained(args.out, device="cpu"), data, args.eval_out)
    extra["evaluation"] = report.summary()
    extra["description"] += "\n\n" + verdict(report)
    model.save_pretrained(args.out)
    print(json.dumps(extra["evaluation"], indent=2))
    print(f"wrote {args.out} and {args.eval_out}")


if __name__ == "__main__":
    main()

"""Measure a finished CPU training run and export it as the project's small Hub-ready model.

Used for ``src/sagan_edit/weights/eyeglasses`` (the embedded ``eyeglasses`` model)::

    python scripts/export_cpu_model.py runs/eyeglasses-64-cpu src/sagan_edit/weights/eyeglasses \\
        --hours 2 --picture docs/images/astronaut-eyeglasses-64-cpu.jpg --history "..."

1. loads the run's newest checkpoint (G and D);
2. edits CelebA-HQ test images (27001-30000; every one with the attribute, and as many without)
   and measures: the mask's mean and the share of its mass inside the eye band, the mean change
   inside and outside that band, and the edit success as judged by the run's **own**
   discriminator (its attribute head; not an independent classifier), beside that head's
   accuracy on the real test images;
3. writes the generator in bf16 through ``SaGAN.save_pretrained`` with a model card that says
   what the model is and is not, and these figures;
4. writes a before / after / mask picture of the example photo.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sagan_edit import SaGAN
from sagan_edit.align import CELEBAHQ_TEMPLATE
from sagan_edit.data import default_data_root, load_dataset
from sagan_edit.networks import Discriminator
from sagan_edit.train import CONFIG_NAME, TrainConfig, Trainer, find_latest_checkpoint

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.png"
EXAMPLE_FACE_BOX = (144, 26, 304, 186)
#: Where eyeglasses sit on a CelebA-HQ crop (fractions: left, top, right, bottom), around the
#: measured eye centres (CELEBAHQ_TEMPLATE: y 0.486, x 0.38 and 0.62); fixed, not the model's mask.
EYE_BAND = (0.2, 0.36, 0.8, 0.62)


@torch.inference_mode()
def measure(model: SaGAN, discriminator: Discriminator, data: Path, limit: int) -> dict:
    """Edit test images towards the flipped label; return the figures (module docstring)."""
    size = model.config.image_size
    test = load_dataset(data, model.attribute, split="test", image_size=size, flip=False)
    labels = test.labels.numpy()
    positives = np.flatnonzero(labels > 0.5)[:limit]
    negatives = np.flatnonzero(labels < 0.5)[: len(positives)]
    left, top, right, bottom = (round(v * size) for v in EYE_BAND)
    band = torch.zeros(size, size, dtype=torch.bool)
    band[top:bottom, left:right] = True
    figures: dict = {}
    real_correct = []
    for name, indices, target in (("add", negatives, 1.0), ("remove", positives, 0.0)):
        success, mask_mean, inside_share, change_in, change_out = [], [], [], [], []
        for start in range(0, len(indices), 64):
            images, label = test.batch([int(i) for i in indices[start : start + 64]])
            out = model.generator(images, torch.full((len(images),), target))
            _, real_logits = discriminator(images)
            real_correct += ((real_logits.view(-1) > 0) == (label > 0.5)).tolist()
            _, logits = discriminator(out.image)
            success += ((logits.view(-1) > 0) == bool(target)).tolist()
            mask = out.mask[:, 0]
            mask_mean += mask.mean((1, 2)).tolist()
            inside_share += (mask[:, band].sum(1) / mask.sum((1, 2)).clamp_min(1e-8)).tolist()
            change = (out.image - images).abs().mean(1) * 127.5  # 8-bit levels
            change_in += change[:, band].mean(1).tolist()
            change_out += change[:, ~band].mean(1).tolist()
        figures[name] = {
            "images": len(indices),
            "judged successful by its own D": round(float(np.mean(success)), 3),
            "mask mean": round(float(np.mean(mask_mean)), 4),
            "mask mass inside the eye band": round(float(np.mean(inside_share)), 3),
            "mean change inside the eye band (8-bit levels)": round(float(np.mean(change_in)), 2),
            "mean change outside the eye band (8-bit levels)": round(float(np.mean(change_out)), 2),
        }
    figures["its D's attribute accuracy on these real test images"] = round(
        float(np.mean(real_correct)), 3
    )
    return figures


def description(
    config: TrainConfig, step: int, hours: float, figures: dict, history: str = ""
) -> str:
    """The model card's text: what the model is, what it is not, and how it measured."""
    add, remove = figures["add"], figures["remove"]
    size = config.model.image_size
    return (
        "**A small model trained on a 2-core CPU, not the paper's configuration.** It exists so "
        "that a newcomer sees a real edit offline. It runs at "
        f"{size}x{size} with {config.model.base_channels} base channels (the paper: 128x128, "
        f"32) and was trained for {step} generator steps at batch "
        f"{config.batch_size} (the paper's optimiser and loss weights, except as said below; "
        f"our default length is 20,000 steps) in about {hours:g} hours, on the CelebA-HQ train "
        "split (images 1-27000, "
        "downscaled to 64x64), with balanced batches (half of the images with eyeglasses; "
        "4.9 % have them). Edits are coarse at this size and length: expect a dark frame-like "
        "band around the eyes, not the paper's quality."
        + (f" {history}" if history else "")
        + "\n\n"
        "Measured on CelebA-HQ test images (27001-30000) with `scripts/export_cpu_model.py`: "
        f"adding eyeglasses to {add['images']} faces without them, the run's own discriminator "
        f"judges {add['judged successful by its own D']:.0%} of the edits to have eyeglasses; "
        f"removing them from {remove['images']} faces with them, "
        f"{remove['judged successful by its own D']:.0%} to have none (that discriminator is "
        "not an independent judge; its accuracy on the same real images is "
        f"{figures['its D' + chr(39) + 's attribute accuracy on these real test images']:.0%}). "
        f"The attention mask covers {add['mask mean']:.1%} of the image on average when "
        f"adding, and {add['mask mass inside the eye band']:.0%} of its mass lies inside a "
        "fixed eye band (x 0.2-0.8, y 0.36-0.62 of the crop); the mean change outside that "
        f"band is {add['mean change outside the eye band (8-bit levels)']:.2f} 8-bit levels "
        f"(inside: {add['mean change inside the eye band (8-bit levels)']:.2f}).\n\n"
        "CelebA-HQ is for non-commercial research only; use these weights accordingly."
    )


def picture(model: SaGAN, path: Path) -> None:
    """Save input | edit | mask of the example photo's face region, side by side."""
    try:
        result = model.edit(EXAMPLE, value=True, align=True)
    except Exception:  # noqa: BLE001 - the align extra is optional: fall back to the box
        result = model.edit(EXAMPLE, value=True, box=EXAMPLE_FACE_BOX)
    region = (104, 0, 344, 240)
    tiles = [
        Image.open(EXAMPLE).convert("RGB").crop(region),
        result.image.convert("RGB").crop(region),
        result.mask.convert("RGB").crop(region),
    ]
    sheet = Image.new("RGB", (3 * 240 + 8, 240), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * 244, 0))
    sheet.save(path, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the training run's folder (sagan-edit train --out)")
    parser.add_argument("out", type=Path, help="where to write the Hub-ready folder")
    parser.add_argument(
        "--data", type=Path, default=None, help="CelebA-HQ-128 (default: $SAGAN_DATA)"
    )
    parser.add_argument("--run-data", default=None, help="the run's training data, if moved")
    parser.add_argument("--history", default="", help="how the run deviated, for the card")
    parser.add_argument("--limit", type=int, default=150, help="test images per direction")
    parser.add_argument(
        "--hours", type=float, required=True, help="training wall time, for the card"
    )
    parser.add_argument("--picture", type=Path, default=None, help="write the example picture here")
    args = parser.parse_args()
    data = args.data or default_data_root() / "celebahq128"
    checkpoint = find_latest_checkpoint(args.run)
    if checkpoint is None:
        raise SystemExit(f"{args.run} holds no checkpoint")
    config = TrainConfig.load(args.run / CONFIG_NAME)
    train_images = load_dataset(
        args.run_data or config.data, config.model.attribute,
        data_format=config.data_format, image_size=config.model.image_size,
    )  # fmt: skip
    config = config.replace(
        face_template=CELEBAHQ_TEMPLATE,
        datasets=("CelebA-HQ",),
        data="CelebA-HQ-128 (images 1-27000), packed at 64x64",
    )
    with tempfile.TemporaryDirectory() as scratch:  # the trainer's own folder stays untouched
        trainer = Trainer(config, train_images, scratch, device=torch.device("cpu"), quiet=True)
        trainer.load_checkpoint(checkpoint)
    trainer.generator.eval()
    trainer.discriminator.eval()
    model = trainer.to_sagan()
    figures = measure(model, trainer.discriminator, data, args.limit)
    print(json.dumps(figures, indent=2))

    extra = dict(model.config.extra)  # the trainer's facts: data, steps, settings, final losses
    extra["description"] = description(config, trainer.step, args.hours, figures, args.history)
    extra["license_name"] = "celeba-non-commercial-research"
    extra["training"] = {
        **extra["training"],
        "wall time": f"about {args.hours:g} h on a 2-core CPU",
        **{f"test, {direction}: {key}": value
           for direction in ("add", "remove") for key, value in figures[direction].items()},
    }  # fmt: skip
    model.config.extra = extra
    model.to(torch.bfloat16).save_pretrained(args.out)
    print(f"wrote {args.out}")
    if args.picture is not None:
        picture(SaGAN.from_pretrained(args.out), args.picture)
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()

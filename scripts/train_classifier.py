"""Train the attribute classifier that judges edits (sagan_edit.classifier) and write it out.

    python scripts/train_classifier.py --data runs/pack-hq128 --out runs/classifier \
        --data-64 runs/pack-hq64 --threads 1

--data is any layout `load_dataset` reads (CelebA-HQ folder, official CelebA, a folder with a
labels CSV, or a pack; a pack is fastest). The classifier trains on the train split at the data's
128x128 (or --image-size), is measured on the test split, and is written, with that accuracy in
its model card and in accuracy.json, to --out in float16 (the form the package ships).
--data-64 (the same test images at 64x64) adds the accuracy on such inputs, which the classifier
upsamples, as it does the edits of 64-pixel models. The shipped classifier was made by the
command above, with CelebA-HQ packed at 128 and 64 by `sagan_edit.data.pack_dataset`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from sagan_edit.classifier import AttributeClassifier, measure_accuracy, train_classifier
from sagan_edit.data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--data-64", help="the test images at 64x64 (optional)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # Any attribute opens the data; every attribute's labels come along (label_matrix).
    train = load_dataset(args.data, "Eyeglasses", split="train", image_size=args.image_size)
    test = load_dataset(args.data, "Eyeglasses", split="test", image_size=args.image_size)
    result = train_classifier(train, test, epochs=args.epochs, batch_size=args.batch_size)
    # Ship float16 weights and measure the shipped form, so the card's figures are its own.
    result.model.half().save_pretrained(args.out)
    model = AttributeClassifier.from_pretrained(args.out, device="cpu")
    accuracy = measure_accuracy(model, test)
    first, last = test.files[0], test.files[-1]
    extra = model.config.extra
    extra["training"]["data"] = f"{args.data} ({train.split} split, {len(train)} images)"
    extra["training"]["wall time"] = f"{result.seconds / 60:.0f} min"
    extra["test_data"] = f"{args.data}, {test.split} split ({first} ... {last}, {len(test)} images)"
    extra["test_accuracy"] = {k: round(v, 4) for k, v in accuracy.items()}
    if args.data_64:
        small = load_dataset(args.data_64, "Eyeglasses", split="test", image_size=64)
        extra["test_accuracy_at_64px"] = {
            k: round(v, 4) for k, v in measure_accuracy(model, small).items()
        }
    model.half().save_pretrained(args.out)
    mean = sum(accuracy.values()) / len(accuracy)
    (args.out / "accuracy.json").write_text(
        json.dumps({"mean": mean, "by_attribute": accuracy, "seconds": result.seconds}, indent=2)
        + "\n"
    )
    print(f"mean test accuracy {mean:.2%} ({result.seconds / 60:.1f} min of training)")
    for name, value in accuracy.items():
        print(f"  {name:22s} {value:.2%}")


if __name__ == "__main__":
    main()

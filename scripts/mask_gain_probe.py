"""Evaluate a model with its attention mask strengthened at test time: ``b' = min(1, gain * b)``.

A probe, not a feature: it asks whether the shipped models fall short of the acceptance figure
because their masks are too soft. Each gain is evaluated like ``sagan-edit eval`` (the same
`evaluate`, the shipped classifier as judge) on the first ``--limit`` CelebA-HQ test images,
optionally with the attribute input extrapolated about 0.5 (``c' = 0.5 + scale * (c - 0.5)``,
AttGAN's test-time intensity)::

    python scripts/mask_gain_probe.py eyeglasses --gains 1 2 4 --limit 1000
    python scripts/mask_gain_probe.py no_beard --gains 1 2 --scales 1 2

Prints one line per setting: editing accuracy, attribute preservation, mean change outside the
attribute's box (add / remove) and the Fréchet classifier distance. The data path is ``--data``
or ``$SAGAN_DATA/celebahq128``. Results: the evaluation guide (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sagan_edit import SaGAN
from sagan_edit.classifier import AttributeClassifier
from sagan_edit.data import default_data_root, load_dataset
from sagan_edit.evaluate import evaluate


class _StrongerMask(torch.nn.Module):
    """SAN's mask times ``gain``, clipped to 1."""

    def __init__(self, san: torch.nn.Module, gain: float) -> None:
        super().__init__()
        self.san, self.gain = san, gain

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (self.san(image) * self.gain).clamp(0, 1)


class _ScaledAttribute(torch.nn.Module):
    """AMN run on the attribute value extrapolated about 0.5 by ``scale``."""

    def __init__(self, amn: torch.nn.Module, scale: float) -> None:
        super().__init__()
        self.amn, self.scale = amn, scale

    def forward(self, image: torch.Tensor, attribute: torch.Tensor) -> torch.Tensor:
        return self.amn(image, 0.5 + self.scale * (attribute - 0.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("model", help="an alias, a folder or a Hub repo id")
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0])
    parser.add_argument("--limit", type=int, default=1000, help="first N test images")
    parser.add_argument("--data", type=Path, help="default: $SAGAN_DATA/celebahq128")
    args = parser.parse_args()

    model = SaGAN.from_pretrained(args.model, device="cpu")
    data = args.data or default_data_root() / "celebahq128"
    dataset = load_dataset(
        data, model.attribute, split="test", image_size=model.config.image_size,
        flip=False, limit=args.limit,
    )  # fmt: skip
    judge = AttributeClassifier.from_pretrained()
    generator = model.generator
    amn, san = generator.amn, generator.san
    print(f"{args.model}: {len(dataset)} test images, {model.dtype}; add / remove")
    for scale in args.scales:
        for gain in args.gains:
            generator.amn, generator.san = _ScaledAttribute(amn, scale), _StrongerMask(san, gain)
            report, _ = evaluate(model, dataset, classifier=judge, num_samples=0)
            add, remove = report.add, report.remove
            print(
                f"gain {gain:g}, scale {scale:g}: accuracy {add.editing_accuracy:.1%} / "
                f"{remove.editing_accuracy:.1%}, preservation {add.attribute_preservation:.1%} / "
                f"{remove.attribute_preservation:.1%}, outside the box "
                f"{add.mean_abs_change_outside:.2f} / {remove.mean_abs_change_outside:.2f} levels, "
                f"FCD {report.frechet_classifier_distance:.1f}",
                flush=True,
            )
    generator.amn, generator.san = amn, san


if __name__ == "__main__":
    main()

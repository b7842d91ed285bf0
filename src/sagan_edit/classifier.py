"""`AttributeClassifier`: the judge of the evaluation, a CelebA 40-attribute face classifier.

Edits are scored the way the face-editing literature scores them (AttGAN, STGAN): an
independent classifier, trained on real faces, says whether an edited face has the attribute.
Its architecture is theirs at a smaller width, five conv blocks and two fully connected layers:

    layer   for image_size=128
    L1-L5   Conv(K4, S2, P1), BatchNorm, LeakyReLU(0.2)
            channels 3 -> 16 -> 32 -> 64 -> 128 -> 256
    L6      Linear(256 * 4 * 4, 512), BatchNorm, LeakyReLU(0.2): the features
    L7      Linear(512, 40): one logit per attribute

(`AttributeClassifier.features` returns L6's output.)

A project model ships with the package (``AttributeClassifier.from_pretrained()``), trained by
`train_classifier` on CelebA-HQ's train split (images 1-27000); its per-attribute accuracy on
the test split is in its model card and in ``docs/evaluation.md``. Inputs of another size are
resized to ``image_size`` first (bilinear, antialiased), and the shipped model was trained with
half of its batches passed through half resolution and back, so that it judges 64-pixel edits
(upsampled) as well as 128-pixel ones.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attributes import CELEBA_ATTRIBUTES, canonical_attribute
from .config import CONFIG_NAME, JsonConfig
from .errors import InvalidWeightsError
from .hub import WEIGHTS_NAME, load_weights_strictly, resolve_weights_folder, write_model_folder
from .imaging import ImageInput, load_images, to_model_input

__all__ = [
    "SHIPPED_CLASSIFIER",
    "AttributeClassifier",
    "ClassifierConfig",
    "ClassifierTrainResult",
    "measure_accuracy",
    "train_classifier",
]

CLASSIFIER_MODEL_TYPE = "sagan-attribute-classifier"
#: The classifier that ships with the package (`AttributeClassifier.from_pretrained()`).
SHIPPED_CLASSIFIER = Path(__file__).parent / "weights" / "attribute-classifier"
LEAKY_SLOPE = 0.2


@dataclass
class ClassifierConfig(JsonConfig):
    """Shape of an `AttributeClassifier`, stored as ``config.json``.

    Args:
        attributes: the attributes it predicts, in output order (default: CelebA's 40).
        image_size: side of the square inputs it runs at (a multiple of 32).
        channels: output channels of the five conv blocks.
        hidden: width of the first fully connected layer (the features of the Fréchet distance).
        extra: free-form metadata (training settings, measured test accuracy).
    """

    model_type: ClassVar[str] = CLASSIFIER_MODEL_TYPE
    kind: ClassVar[str] = "attribute classifier"

    attributes: list[str] = field(default_factory=lambda: list(CELEBA_ATTRIBUTES))
    image_size: int = 128
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    hidden: int = 512
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.attributes = [str(a) for a in self.attributes]
        self.channels = [int(c) for c in self.channels]
        if not self.attributes or len(set(self.attributes)) != len(self.attributes):
            raise ValueError("attributes must be a non-empty list of distinct names")
        if len(self.channels) != 5 or min(self.channels) < 1 or self.hidden < 1:
            raise ValueError("channels must be 5 positive numbers and hidden positive")
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"image_size={self.image_size} must be a multiple of 32")


class AttributeClassifier(nn.Module):
    """Predicts the probability of each face attribute (module docstring: architecture).

    Examples:
        Judge a face with the classifier that ships with the package:

        ```python
        from sagan_edit import AttributeClassifier

        judge = AttributeClassifier.from_pretrained()
        probabilities = judge.predict("face.jpg")  # {attribute: probability}
        print(probabilities["Eyeglasses"])
        ```
    """

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or ClassifierConfig()
        layers: list[nn.Module] = []
        in_channels = 3
        for channels in self.config.channels:  # L1-L5
            layers += [
                nn.Conv2d(in_channels, channels, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            ]
            in_channels = channels
        self.convs = nn.Sequential(*layers)
        final = self.config.image_size // 32
        self.fc = nn.Sequential(  # L6
            nn.Flatten(),
            nn.Linear(in_channels * final * final, self.config.hidden, bias=False),
            nn.BatchNorm1d(self.config.hidden),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        )
        self.head = nn.Linear(self.config.hidden, len(self.config.attributes))  # L7
        self.eval()

    @property
    def attributes(self) -> list[str]:
        """Attribute names, in the order of the outputs."""
        return self.config.attributes

    @property
    def device(self) -> torch.device:
        """Device the weights live on."""
        return self.head.weight.device

    def index(self, attribute: str) -> int:
        """Output column of an attribute, any spelling (``"eyeglasses"``)."""
        return self.attributes.index(canonical_attribute(attribute, tuple(self.attributes)))

    def _fit_size(self, images: Tensor) -> Tensor:
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(
                images.float(), size=(size, size), mode="bilinear", antialias=True,
                align_corners=False,
            )  # fmt: skip
        return images.to(self.head.weight.dtype)

    def features(self, images: Tensor) -> Tensor:
        """Compute L6's activations (N, hidden) for images (N, 3, H, W) in [-1, 1]."""
        return self.fc(self.convs(self._fit_size(images)))

    def forward(self, images: Tensor) -> Tensor:
        """Compute the attribute logits (N, A) for images (N, 3, H, W) in [-1, 1]."""
        return self.head(self.features(images))

    @torch.inference_mode()
    def probabilities(self, images: Tensor, batch_size: int = 256) -> Tensor:
        """Return P(attribute) as an (N, A) float32 tensor on the CPU, in batches."""
        out = [
            torch.sigmoid(self(images[i : i + batch_size].to(self.device)).float()).cpu()
            for i in range(0, images.shape[0], batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, len(self.attributes))

    @torch.inference_mode()
    def predict(
        self, images: ImageInput | Sequence[ImageInput]
    ) -> dict[str, float] | list[dict[str, float]]:
        """Return, for each image, the probability of each attribute by name.

        ``images`` is one image (a path, bytes, PIL image, HxWx3 uint8 array or (3, H, W)
        tensor in [0, 1]) or a list of them, or an (N, 3, H, W) tensor in [0, 1]; each is
        treated as a face crop (its centred square). One image gives one dict, a batch a list.
        """
        sources, batched = load_images(images)
        size = self.config.image_size
        batch = torch.stack([to_model_input(s, size, None) for s in sources])
        probs = self.probabilities(batch).tolist()
        named = [dict(zip(self.attributes, row, strict=True)) for row in probs]
        return named if batched else named[0]

    # ------------------------------------------------------------------ saving and loading

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` card (atomically)."""
        return write_model_folder(
            save_directory, self.config, self, render_classifier_card(self.config)
        )

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        *,
        revision: str | None = None,
        local_files_only: bool = False,
        device: str | torch.device = "auto",
    ) -> AttributeClassifier:
        """Load a classifier: the shipped one (no argument), a local folder or a Hub repo id."""
        from .model import select_device

        if name_or_path is None:
            folder = SHIPPED_CLASSIFIER
            if not (folder / WEIGHTS_NAME).is_file():
                raise InvalidWeightsError(
                    f"the shipped attribute classifier is missing from {folder}; reinstall "
                    "sagan-edit"
                )
        else:
            folder = resolve_weights_folder(
                name_or_path, revision=revision, local_files_only=local_files_only
            )
        if not (folder / CONFIG_NAME).is_file():
            raise InvalidWeightsError(f"{folder} has no {CONFIG_NAME}; is it a classifier folder?")
        model = cls(ClassifierConfig.load(folder / CONFIG_NAME))
        load_weights_strictly(model, folder / WEIGHTS_NAME)
        return model.to(device=select_device(device), dtype=torch.float32).eval()


def render_classifier_card(config: ClassifierConfig) -> str:
    """Return a model card: what the classifier is, how it was trained and its test accuracy."""
    lines = [
        "---",
        "library_name: sagan-edit",
        "tags: [face-attributes, image-classification, celeba]",
        "---",
        "",
        "# Face attribute classifier (sagan-edit's evaluation judge)",
        "",
        f"Predicts {len(config.attributes)} CelebA attributes from a "
        f"{config.image_size}x{config.image_size} aligned face crop: five conv blocks "
        f"{' -> '.join(map(str, config.channels))} with BatchNorm, then "
        f"{config.hidden}-wide and output fully connected layers (`sagan_edit.classifier`).",
        "",
        "```python",
        "from sagan_edit import AttributeClassifier",
        "judge = AttributeClassifier.from_pretrained()  # or this folder",
        'judge.predict("face.jpg")["Eyeglasses"]',
        "```",
    ]
    training = config.extra.get("training")
    if training:
        lines += ["", "## Training", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in training.items()]
    accuracy = config.extra.get("test_accuracy")
    if accuracy:
        low = config.extra.get("test_accuracy_at_64px") or {}
        mean = sum(accuracy.values()) / len(accuracy)
        lines += [
            "",
            "## Accuracy on real test images",
            "",
            f"{config.extra.get('test_data', 'test split')}: mean {mean:.1%} over "
            f"{len(accuracy)} attributes"
            + (
                f"; {sum(low.values()) / len(low):.1%} when the same images are given at 64x64 "
                "(upsampled by the classifier), as 64-pixel models' edits are."
                if low
                else "."
            ),
            "",
            "| attribute | accuracy | at 64x64 |" if low else "| attribute | accuracy |",
            "|---|---|---|" if low else "|---|---|",
        ]
        for name, value in accuracy.items():
            row = f"| {name} | {value:.1%} |"
            lines.append(row + (f" {low[name]:.1%} |" if name in low else (" |" if low else "")))
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- training


@dataclass
class ClassifierTrainResult:
    """What `train_classifier` returns."""

    model: AttributeClassifier
    """The trained classifier (on the CPU, eval mode)."""
    test_accuracy: dict[str, float]
    """Accuracy on the test split, by attribute."""
    seconds: float
    """Wall time of the training (evaluation excluded)."""


def _half_resolution(images: Tensor) -> Tensor:
    """Pass images through half resolution and back, as a 64-pixel edit reaches the judge."""
    size = images.shape[-1]
    small = F.interpolate(images, scale_factor=0.5, mode="bilinear", antialias=True)
    return F.interpolate(small, size=(size, size), mode="bilinear", antialias=True)


@torch.inference_mode()
def measure_accuracy(
    model: AttributeClassifier, dataset: Any, *, batch_size: int = 256
) -> dict[str, float]:
    """Return the accuracy of ``model`` on every attribute it shares with a `load_dataset` set."""
    names = [n for n in dataset.attribute_names if n in model.attributes]
    data_columns = [dataset.attribute_names.index(n) for n in names]
    model_columns = [model.attributes.index(n) for n in names]
    correct = torch.zeros(len(names))
    for start in range(0, len(dataset), batch_size):
        rows = np.arange(start, min(start + batch_size, len(dataset)))
        images, _ = dataset.batch(rows)
        predicted = model.probabilities(images)[:, model_columns] > 0.5
        truth = torch.from_numpy(dataset.label_matrix[rows][:, data_columns] == 1)
        correct += (predicted == truth).float().sum(0)
    return {name: float(n) / len(dataset) for name, n in zip(names, correct, strict=True)}


def train_classifier(
    train_set: Any,
    test_set: Any,
    *,
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    half_resolution_share: float = 0.5,
    seed: int = 0,
    device: str | torch.device = "auto",
    log: Callable[[str], None] | None = print,
) -> ClassifierTrainResult:
    """Train an `AttributeClassifier` on every attribute of ``train_set`` (from `load_dataset`).

    Adam (``lr``, decayed along a cosine to 0), BCE over all attributes, random left-right
    flips (the dataset's own) and, for ``half_resolution_share`` of the batches, images passed
    through half resolution. Measures accuracy on ``test_set`` at the end.
    """
    from .model import select_device

    if not train_set.attribute_names:
        raise ValueError("the training set carries no attribute labels (use load_dataset)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = select_device(device)
    config = ClassifierConfig(
        attributes=list(train_set.attribute_names), image_size=train_set.image_size
    )
    model = AttributeClassifier(config).to(dev, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = len(train_set) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_set)} training images do not fill a batch of {batch_size}")
    total = epochs * steps_per_epoch
    labels = torch.from_numpy(train_set.label_matrix.astype(np.float32))
    flips = torch.Generator().manual_seed(seed)
    start, step = time.perf_counter(), 0
    model.train()
    for epoch in range(epochs):
        order = rng.permutation(len(train_set))
        running = 0.0
        for b in range(steps_per_epoch):
            index = order[b * batch_size : (b + 1) * batch_size]
            images, _ = train_set.batch(index, generator=flips)
            if rng.random() < half_resolution_share:
                images = _half_resolution(images)
            images = images.to(dev, memory_format=torch.channels_last)
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.binary_cross_entropy_with_logits(model(images), labels[index].to(dev))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item()
            step += 1
            if log and (b + 1) % 100 == 0:
                log(
                    f"epoch {epoch + 1}/{epochs} step {b + 1}/{steps_per_epoch} "
                    f"loss {running / 100:.4f} ({time.perf_counter() - start:.0f} s)"
                )
                running = 0.0
    seconds = time.perf_counter() - start
    model = model.cpu().eval()
    model.config.extra["training"] = {
        "data": f"{train_set.format} {train_set.split} split, {len(train_set)} images",
        "epochs": epochs,
        "batch size": batch_size,
        "optimizer": f"Adam lr {lr:g} (cosine to 0), weight decay {weight_decay:g}",
        "augmentation": f"random flips; {half_resolution_share:.0%} of batches through half "
        "resolution",
        "seed": seed,
        "wall time": f"{seconds / 60:.0f} min on {dev.type}",
    }
    accuracy = measure_accuracy(model, test_set)
    return ClassifierTrainResult(model, accuracy, seconds)

"""The attribute classifier: the shipped judge, saving and loading, predict, and training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sagan_edit import AttributeClassifier, InvalidWeightsError
from sagan_edit.attributes import CELEBA_ATTRIBUTES
from sagan_edit.classifier import SHIPPED_CLASSIFIER, ClassifierConfig, train_classifier
from sagan_edit.data import load_dataset

EXAMPLE = Path(__file__).parents[1] / "examples" / "astronaut.png"


def test_the_shipped_classifier_loads_without_arguments_and_says_its_accuracy() -> None:
    judge = AttributeClassifier.from_pretrained(device="cpu")
    assert judge.attributes == list(CELEBA_ATTRIBUTES)
    assert judge.config.image_size == 128
    accuracy = judge.config.extra["test_accuracy"]
    assert set(accuracy) == set(CELEBA_ATTRIBUTES) and accuracy["Eyeglasses"] > 0.95
    assert "Eyeglasses" in (SHIPPED_CLASSIFIER / "README.md").read_text()


def test_predict_returns_named_probabilities_for_one_image_or_a_batch() -> None:
    judge = AttributeClassifier.from_pretrained(device="cpu")
    one = judge.predict(EXAMPLE)
    assert isinstance(one, dict) and list(one) == list(CELEBA_ATTRIBUTES)
    assert all(0.0 <= p <= 1.0 for p in one.values())
    many = judge.predict([EXAMPLE, Image.open(EXAMPLE)])
    assert isinstance(many, list) and len(many) == 2
    assert many[0]["Male"] == pytest.approx(one["Male"], abs=1e-6)
    batch = torch.rand(3, 3, 64, 64)  # any size: resized to the classifier's
    assert len(judge.predict(batch)) == 3


def test_save_and_load_round_trip_strictly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = ClassifierConfig(attributes=["A", "B"], image_size=32, channels=[2, 2, 2, 2, 4])
    model = AttributeClassifier(config)
    folder = model.save_pretrained(tmp_path / "judge")
    loaded = AttributeClassifier.from_pretrained(folder, device="cpu")
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(loaded(images), model(images))
    assert loaded.index("a") == 0  # any spelling
    # a SaGAN model folder is not a classifier; a classifier of another shape does not load
    (folder / "config.json").write_text('{"model_type": "sagan", "attribute": "Eyeglasses"}')
    with pytest.raises(InvalidWeightsError, match="not a sagan-edit attribute classifier config"):
        AttributeClassifier.from_pretrained(folder)
    ClassifierConfig(attributes=["A", "B"], image_size=32, hidden=8).save(folder)
    with pytest.raises(InvalidWeightsError, match="shape"):
        AttributeClassifier.from_pretrained(folder)
    with pytest.raises(ValueError, match="multiple of 32"):
        ClassifierConfig(image_size=48)


def write_brightness_set(folder: Path, count: int = 160) -> Path:
    """32 px noise images; attribute Bright when the image is light, Top when its top is lit."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["file,Bright,Top,split"]
    for i in range(count):
        bright, top = i % 2, (i // 2) % 2
        pixels = rng.integers(0, 100, size=(32, 32, 3)) + 120 * bright
        pixels[:16] += 35 * top
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
        rows.append(f"{i}.png,{bright},{top},{'test' if i % 5 == 0 else 'train'}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_training_learns_every_labelled_attribute(tmp_path: Path) -> None:
    data = write_brightness_set(tmp_path / "faces")
    train = load_dataset(data, "bright", split="train", image_size=32)
    test = load_dataset(data, "bright", split="test", image_size=32)
    result = train_classifier(train, test, epochs=8, batch_size=16, lr=3e-3, log=None)
    assert result.model.attributes == ["Bright", "Top"]
    assert result.test_accuracy["Bright"] == 1.0 and result.test_accuracy["Top"] >= 0.9
    assert result.model.config.extra["training"]["epochs"] == 8

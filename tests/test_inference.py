"""The editing path's precision settings: chosen per device, and bf16 agrees with fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sagan_edit import SaGAN, hardware
from sagan_edit.inference import InferenceSettings, choose_settings

EXAMPLE = Path(__file__).parents[1] / "examples" / "astronaut.png"


@pytest.mark.parametrize(("native", "expected"), [(False, "fp32"), (True, "bf16")])
def test_auto_picks_bf16_only_where_native(monkeypatch, native: bool, expected: str) -> None:
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native)
    settings = choose_settings(torch.device("cpu"), "auto")
    assert settings == InferenceSettings(expected, channels_last=native, compile=False)
    assert choose_settings(torch.device("cpu"), "fp32").precision == "fp32"


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="dtype must be one of auto, fp32, bf16, got 'fp16'"):
        choose_settings(torch.device("cpu"), "fp16")
    with pytest.raises(ValueError, match="compile must be True or False"):
        choose_settings(torch.device("cpu"), "fp32", compile="yes")  # type: ignore[arg-type]


def test_the_default_edit_agrees_with_fp32_within_a_level_inside_the_mask() -> None:
    """bf16 (what ``auto`` picks on native hardware) against fp32, on the embedded model."""
    face = Image.open(EXAMPLE).convert("RGB").crop((144, 26, 304, 186)).resize((64, 64))
    images = [face, face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    fp32 = SaGAN.from_pretrained("eyeglasses", device="cpu", dtype="fp32")
    bf16 = SaGAN.from_pretrained("eyeglasses", device="cpu", dtype="bf16")
    assert fp32.inference_settings.precision == "fp32"
    assert bf16.inference_settings.precision == "bf16"
    for value in (True, False):
        a = fp32.edit(images, value=value, align=False)
        b = bf16.edit(images, value=value, align=False)
        for ra, rb in zip(a, b, strict=True):
            mask = np.asarray(ra.mask, dtype=np.float64) / 255
            diff = np.abs(np.asarray(ra.image, float) - np.asarray(rb.image, float)).mean(axis=2)
            inside = (diff * mask).sum() / max(mask.sum(), 1e-9)
            assert inside < 1.0, inside  # mean |difference| in levels of 255, mask-weighted
            assert mask.sum() > 10  # the model really edits here


def test_weights_cast_by_the_caller_run_as_they_are() -> None:
    model = SaGAN.from_pretrained("eyeglasses", device="cpu", dtype=torch.float64)
    assert model.dtype == torch.float64
    assert model.edit(np.zeros((64, 64, 3), np.uint8), align=False).image.size == (64, 64)


def test_a_device_that_is_not_there_is_a_one_line_error(monkeypatch) -> None:
    from sagan_edit.model import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available here; use 'cpu' or 'auto'"):
        SaGAN.from_pretrained("eyeglasses", device="cuda")
    with pytest.raises(ValueError, match="invalid device 'gpu'"):
        select_device("gpu")
    assert select_device("cpu") == torch.device("cpu")

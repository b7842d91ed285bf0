"""`Editor`: several attributes in one call, union mask, and ``value="toggle"``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    FullMask,
    ShiftAMN,
    StubDetector,
    face_at,
    make_tiny_model,
    smooth_photo,
    stand_ins,
    textured_photo,
)
from PIL import Image

from sagan_edit import AttributeClassifier, SaGAN, UnknownAttributeError, WeightsNotFoundError
from sagan_edit.classifier import ClassifierConfig
from sagan_edit.data import default_data_root
from sagan_edit.editor import Editor, MultiEditResult, edit
from sagan_edit.hub import EMBEDDED_WEIGHTS
from sagan_edit.toggle import ToggleDecision, parse_edit_value

EXAMPLE = Path(__file__).parents[1] / "examples" / "astronaut.png"
CELEBAHQ = default_data_root() / "celebahq128"


class _HalfMask(torch.nn.Module):
    """A stand-in SAN whose mask is 1 on one half of the crop ("right" or "bottom"), else 0."""

    def __init__(self, half: str) -> None:
        super().__init__()
        self.half = half

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros(image.shape[0], 1, *image.shape[2:], dtype=image.dtype)
        if self.half == "right":
            mask[..., image.shape[-1] // 2 :] = 1
        else:
            mask[..., image.shape[-2] // 2 :, :] = 1
        return mask


@pytest.fixture(scope="module")
def glasses() -> SaGAN:
    return make_tiny_model(seed=0, attribute="eyeglasses")


@pytest.fixture(scope="module")
def smile() -> SaGAN:
    return make_tiny_model(seed=1, attribute="smiling")


@pytest.fixture
def half_masks(glasses: SaGAN, smile: SaGAN):
    """Eyeglasses edits the right half of each crop, smiling the bottom half."""
    sans = glasses.generator.san, smile.generator.san
    glasses.generator.san, smile.generator.san = _HalfMask("right"), _HalfMask("bottom")
    yield glasses, smile
    glasses.generator.san, smile.generator.san = sans


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).copy()


# ------------------------------------------------------------------------ several attributes


def test_a_one_model_editor_gives_exactly_what_sagan_edit_gives(glasses):
    photo = smooth_photo(90, 70)
    for value in (True, "remove"):
        alone = glasses.edit(photo, value=value, align=False, strength=0.7)
        together = Editor([glasses]).edit(photo, {"eyeglasses": value}, align=False, strength=0.7)
        assert np.array_equal(_pixels(together.image), _pixels(alone.image))
        assert np.array_equal(_pixels(together.mask), _pixels(alone.mask))
        assert list(together.masks) == ["Eyeglasses"] and together.decisions == []


def test_models_apply_in_turn_and_the_mask_is_the_union(half_masks):
    glasses, smile = half_masks
    photo = smooth_photo(64, 64)
    editor = Editor([glasses, smile])
    result = editor(photo, eyeglasses=True, smiling="remove", align=False)
    assert isinstance(result, MultiEditResult)
    assert list(result.masks) == ["Eyeglasses", "Smiling"]
    assert result.values == {"Eyeglasses": "add", "Smiling": "remove"}
    # the second model edits what the first one left: the same as two calls in a row
    first = glasses.edit(photo, value=True, align=False)
    second = smile.edit(_pixels(first.image), value=False, align=False)
    assert np.array_equal(_pixels(result.image), _pixels(second.image))
    assert np.array_equal(_pixels(result.masks["Eyeglasses"]), _pixels(first.mask))
    assert np.array_equal(_pixels(result.masks["Smiling"]), _pixels(second.mask))
    # the union: right half or bottom half; the top-left quarter is untouched, bit for bit
    mask = _pixels(result.mask)
    assert (mask[:, 32:] == 255).all() and (mask[32:, :] == 255).all()
    assert (mask[:32, :32] == 0).all()
    assert np.array_equal(_pixels(result.image)[:32, :32], photo[:32, :32])


def test_the_models_changes_add_up_and_no_change_changes_nothing(glasses, smile):
    photo = textured_photo(500, 300)
    detector = StubDetector([face_at(150, 150, 150), face_at(380, 140, 120)])
    editor = Editor([glasses, smile])
    with stand_ins(glasses, ShiftAMN(), FullMask()), stand_ins(smile, ShiftAMN(), FullMask()):
        unchanged = editor(photo, eyeglasses=True, smiling=True, detector=detector)
    assert np.array_equal(_pixels(unchanged.image), photo)  # no change: none, under full masks
    with (
        stand_ins(glasses, ShiftAMN(0.16), FullMask()),
        stand_ins(smile, ShiftAMN(-0.16), FullMask()),
    ):
        there_and_back = editor(photo, eyeglasses=True, smiling=True, align=False)
    # +20.4 levels, then -20.4 measured from the brightened crop: the photo, rounding apart
    assert np.abs(_pixels(there_and_back.image).astype(int) - photo).max() <= 1


def test_the_order_of_the_edits_is_the_order_of_application(half_masks):
    glasses, smile = half_masks
    photo = smooth_photo(64, 64, seed=3)
    editor = Editor({"eyeglasses": glasses, "smiling": smile})
    result = editor.edit(photo, {"smiling": True, "eyeglasses": True}, align=False)
    assert list(result.masks) == ["Smiling", "Eyeglasses"]
    first = smile.edit(photo, align=False)
    expected = glasses.edit(_pixels(first.image), align=False)
    assert np.array_equal(_pixels(result.image), _pixels(expected.image))


def test_per_attribute_strength(half_masks):
    glasses, smile = half_masks
    photo = smooth_photo(64, 64)
    result = Editor([glasses, smile]).edit(
        photo, eyeglasses=True, smiling=True, strength={"smiling": 0.0}, align=False
    )
    assert not _pixels(result.masks["Smiling"]).any()
    assert np.array_equal(_pixels(result.mask), _pixels(result.masks["Eyeglasses"]))


def test_each_photo_is_searched_for_faces_once_whatever_the_number_of_models(glasses, smile):
    photo = smooth_photo(600, 300)
    detector = StubDetector([face_at(150, 150, 150), face_at(450, 160, 120)])
    results = Editor([glasses, smile]).edit(
        [photo, smooth_photo(600, 300, seed=1)], eyeglasses=True, smiling=True, detector=detector
    )
    assert detector.calls == 2  # one per photo, not one per photo and model
    assert isinstance(results, list) and len(results) == 2
    for result in results:
        assert result.aligned and len(result.faces) == 2
        for mask in result.masks.values():  # both models edited both faces
            m = _pixels(mask)
            assert m[100:200, 100:200].max() > 0 and m[110:210, 400:500].max() > 0
        union = np.maximum(*(_pixels(m) for m in result.masks.values()))
        assert np.array_equal(_pixels(result.mask), union)
    first = results[0]
    untouched = _pixels(first.mask) == 0
    assert np.array_equal(_pixels(first.image)[untouched], photo[untouched])
    # faces=[1] edits the right-hand face only, for every attribute
    right_only = Editor([glasses, smile]).edit(
        photo, eyeglasses=True, smiling=True, detector=detector, faces=[1]
    )
    assert len(right_only.faces) == 1 and _pixels(right_only.mask)[:, :300].max() == 0


def test_models_load_from_local_folders(make_model_dir):
    one = make_model_dir("glasses", seed=0, attribute="eyeglasses")
    two = make_model_dir("smile", seed=1, attribute="smiling")
    editor = Editor.from_pretrained([one, two], device="cpu")
    assert editor.attributes == ["Eyeglasses", "Smiling"] and len(editor) == 2
    assert "mouth-slightly open" not in editor and "no_beard" not in editor
    assert "SMILING" in editor and editor["smiling"].attribute == "Smiling"
    by_name = Editor({"eyeglasses": one, "Smiling": two}, device="cpu")
    assert by_name.attributes == editor.attributes
    photo = smooth_photo(64, 64)
    a = editor(photo, eyeglasses=True, smiling=False, align=False)
    b = by_name(photo, eyeglasses=True, smiling=False, align=False)
    assert np.array_equal(_pixels(a.image), _pixels(b.image))


def test_bad_editors_and_edits_fail_with_one_clear_line(glasses, smile):
    photo = smooth_photo(64, 64)
    editor = Editor([glasses, smile])
    with pytest.raises(UnknownAttributeError, match=r"no model for 'no_beard' \(it holds: Eye"):
        editor(photo, no_beard=True)
    with pytest.raises(ValueError, match="add/remove/toggle"):
        editor(photo, smiling="maybe")
    with pytest.raises(ValueError, match="at least one attribute"):
        editor(photo)
    with pytest.raises(ValueError, match="named twice"):
        editor.edit(photo, {"smiling": True}, Smiling=False)
    with pytest.raises(ValueError, match="strength"):
        editor(photo, smiling=True, strength=2)
    with pytest.raises(ValueError, match="two models for Eyeglasses"):
        Editor([glasses, make_tiny_model(seed=5)])
    with pytest.raises(ValueError, match="key 'smiling' holds a model for Eyeglasses"):
        Editor({"smiling": glasses})
    with pytest.raises(ValueError, match="at least one model"):
        Editor([])
    with pytest.raises(ValueError) as info:  # messages are one line
        editor(photo, smiling="maybe")
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------- toggle


def test_toggle_values_parse():
    assert parse_edit_value("toggle") is None and parse_edit_value(" Toggle ") is None
    assert parse_edit_value("add") == 1.0 and parse_edit_value(False) == 0.0
    with pytest.raises(ValueError, match="add/remove/toggle"):
        parse_edit_value("flip")


class _BrightnessJudge(AttributeClassifier):
    """A classifier that says a face has every attribute when its crop is bright."""

    def probabilities(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        self.seen = images.clone()
        bright = (images.mean(dim=(1, 2, 3)) > 0).float()
        return bright[:, None].expand(-1, len(self.attributes)) * 0.9 + 0.05


def test_toggle_removes_the_attribute_where_the_classifier_finds_it_and_adds_it_elsewhere(
    glasses,
):
    photo = smooth_photo(600, 300)
    photo[:, :300] = 230  # the left face is bright: the judge finds the attribute there
    photo[:, 300:] = 25
    detector = StubDetector([face_at(150, 150, 150), face_at(450, 160, 120)])
    judge = _BrightnessJudge(ClassifierConfig(image_size=32, channels=[2, 2, 2, 2, 2], hidden=4))
    result = Editor([glasses], classifier=judge).edit(photo, eyeglasses="toggle", detector=detector)
    assert result.decisions == [
        ToggleDecision("Eyeglasses", 0, pytest.approx(0.95), True),
        ToggleDecision("Eyeglasses", 1, pytest.approx(0.05), False),
    ]
    assert [d.action for d in result.decisions] == ["remove", "add"]
    assert str(result.decisions[0]) == "face 0: Eyeglasses found (p=0.95), removed"
    # the judge saw the crops the model edits: model-sized, in [-1, 1]
    assert judge.seen.shape == (2, 3, 64, 64) and judge.seen.min() >= -1
    # and each face got what was decided: face 0 the removal, face 1 the addition
    removed = _pixels(glasses.edit(photo, False, detector=detector, faces=[0]).image)
    added = _pixels(glasses.edit(photo, True, detector=detector, faces=[1]).image)
    out = _pixels(result.image)
    assert np.array_equal(out[:, :300], removed[:, :300])
    assert np.array_equal(out[:, 300:], added[:, 300:])


def test_sagan_edit_toggle_uses_the_shipped_classifier_and_reports_it(glasses):
    photo = smooth_photo(64, 64)
    result = glasses.edit(photo, value="toggle", align=False)
    assert isinstance(result, MultiEditResult) and len(result.decisions) == 1
    decision = result.decisions[0]
    assert decision.attribute == "Eyeglasses" and decision.face == 0
    judge = AttributeClassifier.from_pretrained(device="cpu")
    crop = torch.from_numpy(photo).permute(2, 0, 1).float() / 127.5 - 1
    expected = judge.probabilities(crop[None])[0, judge.index("Eyeglasses")].item()
    assert decision.probability == pytest.approx(expected, abs=1e-5)
    same = glasses.edit(photo, value=not decision.present, align=False)
    assert np.array_equal(_pixels(result.image), _pixels(same.image))
    assert glasses.edit(photo, value=True, align=False).decisions == []


@pytest.mark.skipif(
    not (CELEBAHQ / "attributes.txt").is_file(),
    reason=f"CelebA-HQ-128 not found under {CELEBAHQ} (set SAGAN_DATA)",
)
def test_toggle_on_real_faces_follows_their_labels_and_flips_them():
    """16 CelebA-HQ test faces (8 with eyeglasses), the embedded model, the shipped judge."""
    lines = (CELEBAHQ / "attributes.txt").read_text().splitlines()
    column = lines[1].split().index("Eyeglasses")
    labels = {row.split()[0]: row.split()[1 + column] == "1" for row in lines[2:]}
    test = [name for name in labels if int(name.split(".")[0]) > 27000]
    chosen = [n for n in test if labels[n]][:8] + [n for n in test if not labels[n]][:8]
    model = SaGAN.from_pretrained("eyeglasses", device="cpu")
    images = [str(CELEBAHQ / "images" / name) for name in chosen]
    first = model.edit(images, value="toggle", align=False)
    found = [r.decisions[0].present for r in first]
    agree = sum(f == labels[n] for f, n in zip(found, chosen, strict=True))
    assert agree >= 15, (agree, found)  # the judge's test accuracy on Eyeglasses: 98.8% at 64 px
    # toggled again, most faces are judged the other way round (the model's edits are coarse:
    # evaluation measured 73% successful additions and 93% removals)
    again = model.edit([r.image for r in first], value="toggle", align=False)
    flipped = sum(a.decisions[0].present != f for a, f in zip(again, found, strict=True))
    assert flipped >= 10, flipped


# -------------------------------------------------------------------------- the one-call API


def test_the_module_level_edit_uses_the_published_models():
    photo = smooth_photo(64, 64)
    result = edit(photo, eyeglasses=True, align=False, strength=0.5, device="cpu")
    expected = SaGAN.from_pretrained("eyeglasses", device="cpu").edit(
        photo, True, align=False, strength=0.5
    )
    assert np.array_equal(_pixels(result.image), _pixels(expected.image))
    assert list(result.masks) == ["Eyeglasses"]


def test_the_module_level_edit_names_a_model_that_is_not_available(hf_offline, no_embedded_models):
    shutil.copytree(EMBEDDED_WEIGHTS / "eyeglasses", no_embedded_models / "eyeglasses")
    with pytest.raises(WeightsNotFoundError, match="smiling"):  # not embedded, not cached
        edit(smooth_photo(64, 64), eyeglasses=True, smiling=False, align=False, device="cpu")

"""Photos: face detection, alignment to the template, paste-back, and `SaGAN.edit`'s align rules.

The geometry and the edit rules are tested with a stand-in detector (always run); the dlib
detector itself on the example photo (needs the ``align`` extra) and on CelebA's aligned images
(needs ``../shared/data`` too).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    FullMask,
    ShiftAMN,
    StubDetector,
    face_at,
    fine_detail,
    rotation,
    smooth_photo,
    stand_ins,
    textured_photo,
)
from PIL import Image

from sagan_edit import AlignmentUnavailableError, NoFaceFoundError, SaGAN, SaGANConfig
from sagan_edit.align import (
    CELEBA_TEMPLATE,
    CELEBAHQ_TEMPLATE,
    Face,
    FaceAlignment,
    paste_edit,
    similarity_transform,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.png"
EXAMPLE_FACE_BOX = (144, 26, 304, 186)
DATA = Path(os.environ.get("SAGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="module")
def model() -> SaGAN:
    torch.manual_seed(0)
    return SaGAN(SaGANConfig("eyeglasses", image_size=64, base_channels=8, num_residual_blocks=1))


# ----------------------------------------------------------------------------- geometry


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 100, size=(5, 2))
    matrix = np.hstack([2.5 * rotation(-30), [[40.0], [-7.0]]])
    target = source @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(similarity_transform(source, target), matrix)
    noisy = target + rng.normal(0, 0.01, size=target.shape)
    assert np.allclose(similarity_transform(source, noisy), matrix, atol=0.05)
    mirrored = target * (-1, 1)  # no reflection is ever fitted
    assert np.linalg.det(similarity_transform(source, mirrored)[:, :2]) > 0


def test_crop_of_a_pure_translation_is_the_pixels_themselves():
    photo = smooth_photo(120, 90)
    alignment = FaceAlignment(np.array([[1.0, 0, -30], [0, 1.0, -17]]), 48)
    crop = alignment.crop(photo)
    expected = torch.from_numpy(photo[17:65, 30:78].copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(crop, expected, atol=1e-4)


def test_paste_changes_only_masked_pixels_and_fades_out_at_the_crop_border():
    photo = smooth_photo(400, 300)
    out, mask = photo.copy(), np.zeros((300, 400), np.uint8)
    alignment = FaceAlignment.fit(face_at(200, 150, 160, degrees=25).landmarks,
                                  CELEBAHQ_TEMPLATE, 64)  # fmt: skip
    crop = alignment.crop(photo)
    paste_edit(out, mask, alignment, crop + 0.16, torch.ones(1, 64, 64), crop=crop)
    assert np.array_equal(out[mask == 0], photo[mask == 0])
    # under the full mask, the change (0.16 of [-1, 1]: 20.4 levels) is added to the photo
    full = mask == 255
    assert full.sum() > 5000
    assert np.array_equal(out[full], np.minimum(photo[full].astype(int) + 20, 255))
    # the mask stays inside the rotated crop and ramps down smoothly: no seam
    left, top, right, bottom = alignment.photo_region(400, 300)
    assert mask[:top].max() == 0 and mask[bottom:].max() == 0 and mask[:, right:].max() == 0
    steps = np.abs(np.diff(mask.astype(int), axis=1)).max()
    assert steps <= 40, steps


def test_paste_keeps_the_photos_detail_and_a_zero_change_changes_nothing():
    photo = textured_photo(400, 300)
    alignment = FaceAlignment.fit(face_at(200, 150, 200, degrees=-15).landmarks,
                                  CELEBAHQ_TEMPLATE, 64)  # fmt: skip
    crop, ones = alignment.crop(photo), torch.ones(1, 64, 64)
    out, mask = photo.copy(), np.zeros((300, 400), np.uint8)
    paste_edit(out, mask, alignment, crop, ones, crop=crop)  # AMN gave back its input
    assert (mask == 255).sum() > 5000 and np.array_equal(out, photo)
    darker = photo.copy()
    paste_edit(darker, np.zeros_like(mask), alignment, crop - 0.16, ones, crop=crop)
    full = mask == 255
    assert np.array_equal(darker[full], photo[full] - 20)
    # the photo's finest detail (about 3 photo pixels a crop pixel) is all there
    window = np.s_[110:190, 160:240]  # around the face's centre, (200, 150)
    assert full[window].all()
    assert fine_detail(darker[window]) == pytest.approx(fine_detail(photo[window]))


def test_an_aligned_edit_that_changes_nothing_returns_the_photo(model):
    photo = textured_photo(500, 300)
    detector = StubDetector([face_at(150, 150, 150), face_at(380, 140, 120, degrees=20)])
    with stand_ins(model, ShiftAMN(0.0), FullMask()):
        result = model.edit(photo, detector=detector)
    assert result.aligned and np.asarray(result.mask).max() == 255
    assert np.array_equal(np.asarray(result.image), photo)


def test_an_aligned_face_of_a_grey_photo_stays_grey(model):
    grey = textured_photo(500, 300)[..., 0]
    detector = StubDetector([face_at(150, 150, 150), face_at(380, 140, 120, degrees=20)])
    with stand_ins(model, ShiftAMN((0.4, 0.0, -0.4)), FullMask()):  # a colour change
        result = model.edit(Image.fromarray(grey, "L"), detector=detector)
    out = np.asarray(result.image).astype(int)
    assert result.aligned and (out[..., 0] != grey).sum() > 10_000
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


# ----------------------------------------------------------------------- edit rules


def test_every_face_of_a_photo_is_edited_and_pasted_back(model):
    photo = smooth_photo(600, 300)
    faces = [face_at(150, 150, 150), face_at(430, 160, 120, degrees=-20)]
    detector = StubDetector(faces)
    result = model.edit(photo, detector=detector)
    assert result.aligned and len(result.faces) == 2
    mask = np.asarray(result.mask)
    assert mask[100:200, 100:200].max() > 0 and mask[110:210, 390:470].max() > 0
    edited = np.asarray(result.image)
    assert edited.shape == photo.shape
    assert np.array_equal(edited[mask == 0], photo[mask == 0])

    only_second = model.edit(photo, faces=[1], detector=detector)
    second = np.asarray(only_second.mask)
    assert second[100:200, 100:200].max() == 0 and second[110:210, 390:470].max() > 0
    with pytest.raises(NoFaceFoundError, match="2 found"):
        model.edit(photo, faces=[2], detector=detector)


def test_min_face_size_and_no_face(model):
    photo = smooth_photo(600, 300)
    detector = StubDetector([face_at(150, 150, 150), face_at(430, 160, 60)])
    assert len(model.edit(photo, detector=detector, min_face_size=100).faces) == 1
    with pytest.raises(NoFaceFoundError, match="no face"):
        model.edit(photo, detector=StubDetector([]))


def test_face_crops_are_recognised(model):
    crop = smooth_photo(128, 128)
    # a face where the template says: edited as the crop it is (no warp)
    in_place = model.edit(crop, detector=StubDetector([face_at(64, 64, 128)]))
    assert not in_place.aligned and len(in_place.faces) == 1
    # a crop-shaped image where no face is found: taken as a crop too
    assert not model.edit(crop, detector=StubDetector([])).aligned
    # a crop-shaped image with the face elsewhere: aligned
    assert model.edit(crop, detector=StubDetector([face_at(45, 50, 90)])).aligned
    # align=False never looks for faces; box= neither
    detector = StubDetector([face_at(45, 50, 90)])
    assert not model.edit(crop, align=False, detector=detector).aligned
    assert not model.edit(crop, box=(0, 0, 64, 64), detector=detector).aligned
    assert detector.calls == 0
    with pytest.raises(ValueError, match="either box"):
        model.edit(crop, box=(0, 0, 64, 64), align=True)


def test_without_the_extra_photos_ask_for_it_and_crops_still_work(model, monkeypatch):
    def unavailable():
        raise AlignmentUnavailableError("face detection needs dlib")

    monkeypatch.setattr("sagan_edit.model.get_detector", unavailable)
    with pytest.raises(AlignmentUnavailableError, match=r"sagan-edit\[align\]"):
        model.edit(smooth_photo(900, 600))
    assert not model.edit(smooth_photo(128, 128)).aligned
    assert not model.edit(smooth_photo(900, 600), align=False).aligned


# --------------------------------------------------------------------- the real detector


def _detector():
    pytest.importorskip("dlib", reason="the align extra (dlib-bin) is not installed")
    from sagan_edit.align import get_detector

    try:
        return get_detector()
    except AlignmentUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize(
    ("name", "face_box"),  # the squares examples/README.md gives for editing without the detector
    [
        ("astronaut.png", EXAMPLE_FACE_BOX),
        ("grace_hopper.jpg", (107, 38, 425, 356)),
        ("marie_curie.png", (20, 16, 228, 224)),
    ],
)
def test_example_photo_face_is_found_and_edited_in_place(model, name, face_box):
    detector = _detector()
    path = EXAMPLE.with_name(name)
    photo = np.asarray(Image.open(path).convert("RGB"))
    faces = detector.detect(photo)
    assert len(faces) == 1
    left, top, right, bottom = face_box
    for x, y in faces[0].landmarks:
        assert left < x < right and top < y < bottom
    result = model.edit(path)
    assert result.aligned and len(result.faces) == 1
    mask = np.asarray(result.mask)
    assert np.array_equal(np.asarray(result.image)[mask == 0], photo[mask == 0])
    ys, xs = np.nonzero(mask)
    assert left - 40 <= xs.min() and xs.max() <= right + 40
    assert top - 40 <= ys.min() and ys.max() <= bottom + 40


def test_a_rotated_scaled_shifted_copy_aligns_back():
    """The same face points land on the same crop pixels (within 3 px of 128) after a warp."""
    detector = _detector()
    photo = Image.open(EXAMPLE).convert("RGB")
    original = detector.detect(np.asarray(photo))[0]
    reference = FaceAlignment.fit(original.landmarks, CELEBAHQ_TEMPLATE, 128)
    for degrees, scale, shift in ((12, 1.8, (300, 120)), (-15, 0.9, (40, 260))):
        # the copy: photo point p goes to scale * R p + shift
        forward = np.hstack([scale * rotation(degrees), np.array(shift, float)[:, None]])
        inverse = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]
        size = (int(photo.width * 2.2), int(photo.height * 2.2))
        copy = photo.transform(size, Image.Transform.AFFINE, inverse.flatten().tolist(),
                               Image.Resampling.BICUBIC)  # fmt: skip
        faces = detector.detect(np.asarray(copy))
        assert len(faces) == 1, (degrees, scale)
        aligned = FaceAlignment.fit(faces[0].landmarks, CELEBAHQ_TEMPLATE, 128)
        # corners of the face box in the original, seen through both alignments
        probe = np.array([[150.0, 40], [300, 40], [150, 180], [300, 180], [225, 110]])
        moved = probe @ forward[:, :2].T + forward[:, 2]
        expected = probe @ reference.matrix[:, :2].T + reference.matrix[:, 2]
        got = moved @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]
        error = np.hypot(*(got - expected).T).max()
        assert error < 3.0, (degrees, scale, error)


def test_several_faces_in_one_photo_are_all_edited(model):
    _detector()
    face = Image.open(EXAMPLE).convert("RGB").crop((104, 0, 344, 240))
    group = Image.new("RGB", (900, 400), (200, 190, 180))
    group.paste(face, (40, 80))
    group.paste(face.rotate(-10, fillcolor=(200, 190, 180)), (600, 60))
    result = model.edit(group)
    assert result.aligned and len(result.faces) == 2
    mask = np.asarray(result.mask)
    assert mask[:, :450].max() > 0 and mask[:, 450:].max() > 0
    photo = np.asarray(group)
    assert np.array_equal(np.asarray(result.image)[mask == 0], photo[mask == 0])


def test_small_faces_in_a_large_photo_are_found_in_tiles():
    """A 6-MP photo is searched whole at 2 MP (faces >= ~110 px), then in tiles at full size."""
    _detector()
    from sagan_edit.align import DlibFaceDetector

    face = Image.open(EXAMPLE).convert("RGB").crop((104, 0, 344, 240))  # an 88-px face
    canvas = Image.new("RGB", (3000, 2000), (150, 160, 170))
    for corner in ((1400, 900), (2500, 1700)):  # the first one straddles a tile border
        canvas.paste(face, corner)
    faces = DlibFaceDetector(cnn_fallback=False).detect(np.asarray(canvas))
    assert [f.box[0] // 100 for f in faces] == [14, 25], faces
    assert all(80 <= f.size < 120 for f in faces)


def test_the_cnn_fallback_finds_a_face_tilted_45_degrees():
    _detector()
    from sagan_edit.align import DlibFaceDetector

    face = Image.open(EXAMPLE).convert("RGB").crop((104, 0, 344, 240))
    fill = (128, 128, 128)
    tilted = np.asarray(face.rotate(45, Image.Resampling.BICUBIC, expand=True, fillcolor=fill))
    assert DlibFaceDetector(cnn_fallback=False).detect(tilted) == []
    faces = DlibFaceDetector().detect(tilted)
    assert len(faces) == 1
    (rx, ry), (lx, ly) = faces[0].landmarks[:2]
    assert -60 < math.degrees(math.atan2(ly - ry, lx - rx)) < -30  # the eyes' line, tilted
    with pytest.raises(AlignmentUnavailableError, match="missing"):
        DlibFaceDetector(cnn_model="/no/such/mmod.dat")


def test_detections_of_one_face_are_merged():
    from sagan_edit.align import _merge

    points = np.zeros((3, 2))
    big = Face((100, 100, 200, 200), points, 1.0)
    inside = Face((120, 110, 190, 180), points, 2.0)
    apart = Face((300, 100, 380, 180), points, 0.8)
    assert _merge([big, inside, apart]) == [inside, apart]


@pytest.mark.skipif(
    not (DATA / "celeba" / "img_align_celeba").is_dir(),
    reason=f"official aligned CelebA images not found under {DATA} (set SAGAN_DATA)",
)
def test_eye_centres_on_official_aligned_celeba():
    """CelebA's alignment put the eyes at about (69, 111) and (108, 111) of 178x218."""
    _detector()
    from sagan_edit.align import DlibFaceDetector

    hog_only, with_cnn = DlibFaceDetector(cnn_fallback=False), DlibFaceDetector()
    files = sorted((DATA / "celeba" / "img_align_celeba").glob("*.jpg"))
    errors, missed, fallback_errors = [], 0, []
    for path in files:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        faces = hog_only.detect(rgb, min_face_size=40)
        if len(faces) != 1:
            missed += 1
            # the CNN fallback finds the faces HOG misses (turned ones), a little less precisely
            found = with_cnn.detect(rgb, min_face_size=40)
            assert len(found) == 1, path.name
            right_eye, left_eye = found[0].landmarks[:2] - 0.5
            fallback_errors += [
                np.hypot(*(right_eye - (69, 111))),
                np.hypot(*(left_eye - (108, 111))),
            ]
            continue
        right_eye, left_eye = faces[0].landmarks[:2] - 0.5  # back to pixel indices
        errors += [np.hypot(*(right_eye - (69, 111))), np.hypot(*(left_eye - (108, 111)))]
    assert missed <= len(files) // 10, f"{missed} of {len(files)} images without one face"
    assert np.mean(errors) < 3.5 and np.max(errors) < 7, (np.mean(errors), np.max(errors))
    assert not fallback_errors or max(fallback_errors) < 12, fallback_errors
    # the template measured on these images agrees with CelebA's own eye positions
    (rx, ry), (lx, ly) = np.asarray(CELEBA_TEMPLATE[:2]) * 178
    assert abs(rx - 69.5) < 3 and abs(lx - 108.5) < 3 and abs(ry - 91.5) < 4 and abs(ly - 91.5) < 4

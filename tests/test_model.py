"""`SaGAN.edit`: inputs of every kind, full-resolution paste-back, strength, batches, threads."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from conftest import FullMask, ShiftAMN, fine_detail, smooth_photo, stand_ins, textured_photo
from PIL import Image

from sagan_edit import EditResult, ImageLoadError, InvalidBoxError, SaGAN, SaGANConfig
from sagan_edit.imaging import model_change
from sagan_edit.model import select_device


@pytest.fixture(scope="module")
def model() -> SaGAN:
    torch.manual_seed(0)
    return SaGAN(SaGANConfig("eyeglasses", image_size=64, base_channels=8, num_residual_blocks=1))


class _LeftHalfMask(torch.nn.Module):
    """A stand-in SAN whose mask is 0 on the left half of the crop and 1 on the right half."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros(image.shape[0], 1, *image.shape[2:], dtype=image.dtype)
        mask[..., image.shape[-1] // 2 :] = 1
        return mask


def test_edit_returns_input_sized_images(model):
    photo = smooth_photo(200, 120)
    result = model.edit(photo, align=False)
    assert isinstance(result, EditResult)
    assert result.image.size == (200, 120) and result.image.mode == "RGB"
    assert result.mask.size == (200, 120) and result.mask.mode == "L"


def test_pixels_where_mask_is_zero_are_bit_identical_on_a_large_photo(model):
    photo = smooth_photo(1536, 1024)
    san = model.generator.san
    model.generator.san = _LeftHalfMask()
    try:
        result = model.edit(photo, value=True, align=False)
    finally:
        model.generator.san = san
    out, mask = np.asarray(result.image), np.asarray(result.mask)
    zero = mask == 0
    assert np.array_equal(out[zero], photo[zero])
    # Outside the centred 1024x1024 square, and in the crop's left half, nothing may change.
    assert zero[:, :256].all() and zero[:, -256:].all()
    assert zero[:, 256 : 256 + 500].all()
    # And the edit really happened on the right half of the crop.
    assert (mask[:, 800:1200] == 255).all()
    assert np.abs(out[:, 800:1200].astype(int) - photo[:, 800:1200]).mean() > 5


def test_a_model_that_changes_nothing_returns_the_input_exactly_even_under_a_full_mask(model):
    photo = textured_photo(300, 200)
    with stand_ins(model, ShiftAMN(0.0), FullMask()):
        result = model.edit(photo, box=(40, 20, 200, 180), strength=0.6)
    assert (np.asarray(result.mask)[20:180, 40:200] == 153).all()  # 0.6 of 255 on the face
    assert np.array_equal(np.asarray(result.image), photo)


def test_the_photos_own_detail_is_kept_under_the_mask(model):
    photo = textured_photo(256, 256)  # edited at 64 px: its finest detail is not in the crop
    with stand_ins(model, ShiftAMN(0.16), FullMask()):
        result = model.edit(photo, align=False)
    out = np.asarray(result.image)
    assert (np.asarray(result.mask) == 255).all()
    # the model's change (0.16 of [-1, 1]: 20.4 levels) is added to every pixel of the photo;
    # pasting AMN's up-sampled image over the photo would blur its detail away
    assert np.array_equal(out, photo + 20)
    assert fine_detail(out) == pytest.approx(fine_detail(photo))


def test_the_changes_colour_is_low_passed_and_its_brightness_kept():
    crop = torch.zeros(3, 16, 16)
    crop[0] = 0.5  # a colour crop: a grey one's change would be its luma alone
    edited = crop.clone()
    edited[:, 8, 8] += torch.tensor([0.4, -0.3, 0.2])  # AMN's rainbow noise: a one-pixel dot
    edited[:, 3, 3] += 0.2  # a grey one
    raw, smoothed = model_change(edited, crop, 0.0), model_change(edited, crop)
    assert not model_change(crop, crop).any()  # no change stays exactly none
    luma = torch.tensor([0.299, 0.587, 0.114])
    assert torch.allclose(torch.einsum("c,chw->hw", luma, smoothed),
                          torch.einsum("c,chw->hw", luma, raw), atol=1e-4)  # fmt: skip
    colour = smoothed - smoothed.mean(0)  # what is not grey
    assert colour[:, 8, 8].abs().max() < 0.3 * (raw - raw.mean(0))[:, 8, 8].abs().max()
    assert torch.allclose(smoothed[:, 3, 3], raw[:, 3, 3], atol=1e-4)


def test_a_grey_photo_stays_grey_and_a_colour_photo_takes_the_colour(model):
    colour = smooth_photo(80, 80)  # square: the whole photo is the face crop
    grey = colour[..., 1]
    jpeg = io.BytesIO()  # a black-and-white photo stored as a colour JPEG
    Image.fromarray(grey).convert("RGB").save(jpeg, "JPEG", quality=90)
    as_rgb = np.asarray(Image.open(io.BytesIO(jpeg.getvalue())).convert("RGB")).astype(int)
    tint = ShiftAMN((0.4, 0.0, -0.4))  # red up 51 levels, blue down 51: luma up 9.4
    with stand_ins(model, tint, FullMask()):
        for item in (Image.fromarray(grey, "L"), grey, jpeg.getvalue()):
            out = np.asarray(model.edit(item, align=False).image).astype(int)
            before = as_rgb if isinstance(item, bytes) else np.repeat(grey[..., None], 3, 2)
            spread = out.max(2) - out.min(2)
            assert spread.max() <= (before.max(2) - before.min(2)).max() <= 2, type(item)
            assert np.median(out - before) == 9, type(item)  # the change's luma, 9.4 levels
        out = np.asarray(model.edit(colour, align=False).image).astype(int)
    change = (out - colour).reshape(-1, 3).mean(0)
    assert change[0] > 40 and change[2] < -40  # a colour photo gets the change's colour


def test_strength_scales_the_mask(model):
    photo = smooth_photo(64, 64)
    unchanged = model.edit(photo, strength=0.0, align=False)
    assert np.array_equal(np.asarray(unchanged.image), photo)
    assert not np.asarray(unchanged.mask).any()
    full = np.asarray(model.edit(photo, strength=1.0, align=False).mask).astype(float)
    half = np.asarray(model.edit(photo, strength=0.5, align=False).mask).astype(float)
    assert np.abs(half - full / 2).max() <= 1.0
    with pytest.raises(ValueError, match="strength"):
        model.edit(photo, strength=1.5, align=False)


def test_value_add_and_remove_differ(model):
    photo = smooth_photo(64, 64)
    added = np.asarray(model.edit(photo, value=True, align=False).image)
    removed = np.asarray(model.edit(photo, value="remove", align=False).image)
    assert np.array_equal(np.asarray(model.edit(photo, value=0, align=False).image), removed)
    assert not np.array_equal(added, removed)
    with pytest.raises(ValueError, match="value"):
        model.edit(photo, value=0.5, align=False)


def test_accepts_path_pil_array_tensor_and_bytes(model, tmp_path):
    photo = smooth_photo(96, 80)
    path = tmp_path / "face.png"
    Image.fromarray(photo).save(path)
    expected = np.asarray(model.edit(photo, align=False).image)
    tensor = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    for item in (path, str(path), Image.fromarray(photo), tensor, path.read_bytes()):
        assert np.array_equal(np.asarray(model.edit(item, align=False).image), expected), type(item)
    assert model.edit(path, align=False).source == str(path)


def test_batches_list_and_4d_tensor(model):
    photos = [smooth_photo(64, 64, seed=s) for s in range(3)]
    singles = [np.asarray(model.edit(p, align=False).image) for p in photos]
    as_list = model.edit(photos, batch_size=2, align=False)
    assert isinstance(as_list, list) and len(as_list) == 3
    batch = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float() / 255
    as_tensor = model.edit(batch, align=False)
    for single, a, b in zip(singles, as_list, as_tensor, strict=True):
        # Batched and single runs may differ in the last float bit; allow one grey level.
        assert np.abs(np.asarray(a.image).astype(int) - single).max() <= 1
        assert np.abs(np.asarray(b.image).astype(int) - single).max() <= 1
    mixed = model.edit([smooth_photo(50, 70), smooth_photo(300, 200)], align=False)
    assert [r.image.size for r in mixed] == [(50, 70), (300, 200)]


def test_prepare_generate_paste_is_edit_in_steps(model):
    """The command line's steps give `edit`'s bytes; a bad argument still fails."""
    photos = [smooth_photo(90, 70, seed=s) for s in range(3)]
    expected = model.edit(photos, value=False, batch_size=3, align=False, strength=0.7)
    prepared = [model.prepare(p, align=False) for p in photos]
    assert [len(item.crops) for item in prepared] == [1, 1, 1]
    output = model.generate([item.crops[0] for item in prepared], value=False)
    for k, item in enumerate(prepared):
        item.paste(0, output.amn_image[k], output.mask[k], 0.7)
        result = item.result()
        assert result.image.tobytes() == expected[k].image.tobytes()
        assert result.mask.tobytes() == expected[k].mask.tobytes()
    with pytest.raises(ValueError, match="either box="):
        model.prepare(photos[0], box=(0, 0, 10, 10), align=True)
    with pytest.raises(ValueError, match="one image"):
        model.prepare(torch.zeros(2, 3, 64, 64))


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_batch_invariant_generate_gives_each_crop_its_single_result(model, dtype):
    """With batch_invariant=True (CPU; fp32 or bf16) an output does not depend on its batch."""
    copy = SaGAN(model.config)  # a fresh copy: the fixture's inference settings stay as they are
    copy.load_state_dict(model.state_dict())
    model = copy.eval().set_inference(dtype)
    torch.manual_seed(3)
    crops = list(torch.rand(5, 3, 64, 64) * 2 - 1)
    singles = [model.generate([crop], batch_invariant=True) for crop in crops]
    for size in (5, 3, 2):
        for start in range(0, 5, size):
            batch = model.generate(crops[start : start + size], batch_invariant=True)
            for k, single in enumerate(singles[start : start + size]):
                assert torch.equal(batch.amn_image[k], single.amn_image[0])
                assert torch.equal(batch.mask[k], single.mask[0])


def test_rgba_grayscale_palette_and_exif(model, tmp_path):
    rgb = smooth_photo(80, 60)
    alpha = np.linspace(0, 255, 80 * 60).astype(np.uint8).reshape(60, 80)
    rgba = model.edit(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), align=False).image
    assert rgba.mode == "RGBA" and np.array_equal(np.asarray(rgba)[..., 3], alpha)
    gray = model.edit(Image.fromarray(rgb).convert("L"), align=False).image
    assert gray.mode == "RGB" and gray.size == (80, 60)
    palette = model.edit(Image.fromarray(rgb).convert("P"), align=False).image
    assert palette.mode == "RGB" and palette.size == (80, 60)

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    Image.fromarray(rgb).save(path, exif=exif.tobytes())
    rotated = model.edit(path, align=False)
    assert rotated.image.size == (60, 80) and rotated.mask.size == (60, 80)


def test_bad_inputs_raise_one_line_errors(model, tmp_path):
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    cases = [not_image, tmp_path / "missing.png", tmp_path, np.zeros((4, 4, 3), np.float32),
             torch.zeros(2, 4, 4), 42, b"garbage"]  # fmt: skip
    for case in cases:
        with pytest.raises(ImageLoadError) as info:
            model.edit(case, align=False)
        assert "\n" not in str(info.value)


def test_deterministic_and_thread_safe(model):
    photos = [smooth_photo(120, 90, seed=s) for s in range(4)]
    expected = [np.asarray(model.edit(p, align=False).image) for p in photos]
    for photo, want in zip(photos, expected, strict=True):
        assert np.array_equal(np.asarray(model.edit(photo, align=False).image), want)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: np.asarray(model.edit(p, align=False).image), photos * 2))
    assert all(np.array_equal(r, e) for r, e in zip(results, expected * 2, strict=True))


def test_save_load_round_trip_bf16_and_device(model, tmp_path):
    model.save_pretrained(tmp_path)
    photo = smooth_photo(64, 64)
    loaded = SaGAN.from_pretrained(tmp_path, device="cpu")
    assert loaded.config == model.config and loaded.attribute == "Eyeglasses"
    assert np.array_equal(
        np.asarray(loaded.edit(photo, align=False).image),
        np.asarray(model.edit(photo, align=False).image),
    )
    half = SaGAN.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16
    diff = np.asarray(half.edit(photo, align=False).image).astype(int) - np.asarray(
        model.edit(photo, align=False).image
    )
    assert np.abs(diff).mean() < 8
    assert select_device("auto").type in ("cuda", "mps", "cpu")
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: sagan-edit\n") and "Eyeglasses" in card


def test_png_bytes_of_result_round_trip(model):
    buffer = io.BytesIO()
    model.edit(smooth_photo(64, 64), align=False).image.save(buffer, format="PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).size == (64, 64)


def test_box_limits_the_edit_to_the_face_region(model):
    photo = smooth_photo(300, 200)
    result = model.edit(photo, box=(40, 20, 140, 120), align=False)
    out, mask = np.asarray(result.image), np.asarray(result.mask)
    outside = np.ones(mask.shape, bool)
    outside[20:120, 40:140] = False
    assert not mask[outside].any()
    assert np.array_equal(out[outside], photo[outside])
    assert mask[20:120, 40:140].mean() > 10  # the random model's mask is about 0.5 inside
    for bad in [(0, 0, 100, 50), (250, 0, 350, 100), (-1, 0, 99, 100), (0, 0, 10)]:
        with pytest.raises(InvalidBoxError):
            model.edit(photo, box=bad, align=False)


@pytest.mark.parametrize("variant", ["none", "residual"])
def test_edit_runs_the_baseline_variants_over_the_whole_crop(variant: str) -> None:
    torch.manual_seed(0)
    config = SaGANConfig("eyeglasses", image_size=64, base_channels=4, num_residual_blocks=1,
                         variant=variant)  # fmt: skip
    model = SaGAN(config)
    face = np.full((64, 64, 3), 100, np.uint8)
    result = model.edit(face, align=False)
    assert np.asarray(result.mask).min() == 255  # no attention: every pixel may change
    assert result.image.size == (64, 64)

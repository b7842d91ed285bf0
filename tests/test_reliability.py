"""Reliability: odd image encodings, wrong arguments and configs, photos without a face.

Every case here once failed in a confusing way (a clipped or black image, a traceback, a silent
wrong edit); each now gets the right pixels or one clear error line. All images are made here.
"""

from __future__ import annotations

import io
import json
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from sagan_edit import (
    AlignmentUnavailableError,
    ImageLoadError,
    InvalidBoxError,
    InvalidWeightsError,
    NoFaceFoundError,
    SaGAN,
    SaGANConfig,
)
from sagan_edit.imaging import load_image, looks_like_crop, to_rgb_image


@pytest.fixture(scope="module")
def model() -> SaGAN:
    torch.manual_seed(0)
    return SaGAN(SaGANConfig("eyeglasses", image_size=64, base_channels=4, num_residual_blocks=1))


class NoFaces:
    """A detector that finds nothing."""

    def detect(self, rgb: np.ndarray, *, min_face_size: int = 80) -> list:
        return []


def _encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _decoded(data: bytes | Image.Image) -> np.ndarray:
    return load_image(data)[0].rgb


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


# ------------------------------------------------------------------- 1. high bit depths

RAMP16 = np.linspace(0, 65535, 256).round().astype(np.uint16)[None, :].repeat(4, axis=0)
"""A 16-bit grey ramp, black to white; its 8-bit form is 0, 1, ..., 255."""


def test_16_bit_grey_png_is_scaled_not_clipped():
    png = _encode(Image.fromarray(RAMP16))
    assert Image.open(io.BytesIO(png)).mode in ("I;16", "I")
    rgb = _decoded(png)
    assert np.array_equal(rgb[..., 0], np.arange(256, dtype=np.uint8)[None].repeat(4, axis=0))
    assert (rgb == 255).mean() < 0.01  # clipping made 77 % of a natural photo pure white


def test_32_bit_integer_images_are_taken_as_16_or_8_bit():
    ramp = np.arange(256, dtype=np.uint8)[None].repeat(4, axis=0)
    as_16 = Image.fromarray(RAMP16.astype(np.int32))
    as_8 = Image.fromarray(ramp.astype(np.int32))
    assert as_16.mode == as_8.mode == "I"
    assert np.array_equal(_decoded(as_16)[..., 0], ramp)
    assert np.array_equal(_decoded(as_8)[..., 0], ramp)
    with pytest.raises(ImageLoadError, match="8- or 16-bit") as error:
        load_image(Image.fromarray(np.full((4, 4), 70000, np.int32)))
    _one_line(error)


def test_float_tiff_in_0_1_is_scaled_and_other_ranges_are_errors(tmp_path):
    ramp = (RAMP16 / 65535).astype(np.float32)
    path = tmp_path / "float.tif"
    Image.fromarray(ramp).save(path)
    rgb = _decoded(path.read_bytes())
    assert np.array_equal(rgb[..., 1], np.arange(256, dtype=np.uint8)[None].repeat(4, axis=0))
    for bad in (ramp * 255, ramp - 0.5, np.full_like(ramp, np.nan)):
        Image.fromarray(bad).save(path)
        with pytest.raises(ImageLoadError, match=r"float.tif: .*\[0, 1\]") as error:
            load_image(path)
        _one_line(error)


def test_to_rgb_image_applies_the_same_rules_for_pil_readers():
    converted = to_rgb_image(Image.fromarray(RAMP16))
    assert converted.mode == "RGB"
    assert np.array_equal(np.asarray(converted)[0, :, 2], np.arange(256, dtype=np.uint8))
    with pytest.raises(ImageLoadError, match=r"^x.tif: .*\[0, 1\]"):
        to_rgb_image(Image.fromarray(np.full((2, 2), 3.0, np.float32)), "x.tif")


# ------------------------------------------------------------------- 2. colour profiles


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _icc(space: bytes, kind: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal ICC v2 profile (header, tag table, tags) that littlecms accepts."""
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", 128 + 4 + 12 * len(tags) + len(data), len(body))
        data += body
    header = struct.pack(">I", 128 + len(table) + len(data)) + b"lcms"
    header += struct.pack(">I", 0x02100000) + kind + space + pcs + b"\0" * 12 + b"acsp"
    header = header.ljust(68, b"\0") + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    return header.ljust(128, b"\0") + table + data


WHITE_POINT = (b"wtpt", b"XYZ \0\0\0\0" + _s15(0.9642) + _s15(1.0) + _s15(0.8249))


def grey_profile(gamma: float) -> bytes:
    """A grey display profile with tone curve ``gamma`` (1.0: linear light)."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))
    return _icc(b"GRAY", b"mntr", b"XYZ ", [WHITE_POINT, (b"kTRC", curve)])


def cmyk_profile(paper_lightness: float = 92.0) -> bytes:
    """A CMYK printer profile (a 2-point lut8 to Lab) whose paper is off-white."""
    clut = b""
    for c, m, y, k in np.ndindex(2, 2, 2, 2):
        light = paper_lightness * (1 - k) * (1 - 0.3 * (c + m + y) / 3)
        clut += bytes([round(light / 100 * 255), 128 + 40 * (m - c), 128 + 40 * (y - m)])
    ramp = bytes(range(256))
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft1\0\0\0\0" + bytes([4, 3, 2, 0]) + identity + ramp * 4 + clut + ramp * 3
    return _icc(b"CMYK", b"prtr", b"Lab ", [WHITE_POINT, (b"A2B0", lut)])


def _through_profile(image: Image.Image, profile: bytes) -> np.ndarray:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    return np.asarray(ImageCms.profileToProfile(image, source, srgb, outputMode="RGB"))


@pytest.mark.parametrize("kind", ["grey", "cmyk"])
def test_grey_and_cmyk_profiles_convert_to_srgb_and_are_not_carried(model, tmp_path, kind):
    if kind == "grey":
        profile = grey_profile(1.0)
        image = Image.fromarray(np.arange(0, 256, 4, dtype=np.uint8)[None].repeat(64, 0), "L")
    else:
        profile = cmyk_profile()
        pixels = np.zeros((64, 64, 4), np.uint8)
        pixels[..., 3] = np.arange(0, 256, 4, dtype=np.uint8)[None]
        pixels[:32, :, 0] = 200
        image = Image.fromarray(pixels, "CMYK")
    path = tmp_path / f"{kind}.tif"  # lossless, and TIFF keeps the profile
    image.save(path, icc_profile=profile)
    result = model.edit(path, strength=0.0, align=False)
    assert result.image.mode == "RGB" and "icc_profile" not in result.image.info
    got = np.asarray(result.image)
    assert np.array_equal(got, _through_profile(image, profile))
    assert np.abs(got.astype(int) - np.asarray(image.convert("RGB"))).max() > 20
    # saved as the command line saves (the profile from info): no grey/CMYK profile in a PNG
    png = _encode(result.image, icc_profile=result.image.info.get("icc_profile"))
    assert Image.open(io.BytesIO(png)).info.get("icc_profile") is None


def test_grey_and_cmyk_jpegs_with_profiles(model):
    grey = Image.fromarray(np.full((32, 32), 128, np.uint8), "L")
    cmyk = Image.new("CMYK", (32, 32), (0, 0, 0, 128))
    for image, profile in ((grey, grey_profile(1.0)), (cmyk, cmyk_profile())):
        result = model.edit(_encode(image, "JPEG", icc_profile=profile), strength=0.0, align=False)
        assert "icc_profile" not in result.image.info
        expected = _through_profile(image, profile).astype(int)
        assert np.abs(np.asarray(result.image).astype(int) - expected).max() <= 3


def test_rgb_profiles_are_kept_and_mismatched_ones_dropped(model):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = Image.fromarray(np.full((16, 16, 3), 90, np.uint8))
    kept = model.edit(_encode(rgb, icc_profile=srgb), strength=0.0, align=False)
    assert kept.image.info.get("icc_profile") == srgb
    assert np.array_equal(np.asarray(kept.image), np.asarray(rgb))
    for image, profile in ((rgb, grey_profile(2.2)), (rgb.convert("L"), srgb)):
        result = model.edit(_encode(image, "TIFF", icc_profile=profile), strength=0, align=False)
        assert "icc_profile" not in result.image.info
        assert np.array_equal(np.asarray(result.image), np.asarray(image.convert("RGB")))


# ------------------------------------------------------------------- 7, 8. NaN and empty


def test_non_finite_tensors_are_refused(model):
    for bad in (float("nan"), float("inf")):
        tensor = torch.full((3, 16, 16), 0.5)
        tensor[1, 3, 4] = bad
        with pytest.raises(ImageLoadError, match="finite") as error:
            model.edit(tensor, align=False)
        _one_line(error)


def test_empty_images_are_refused(model, tmp_path):
    cases = [
        torch.zeros(3, 0, 0),
        torch.zeros(2, 3, 5, 0),
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((4, 0), np.uint8),
        Image.new("RGB", (0, 0)),
        Image.new("L", (5, 0)),
    ]
    for case in cases:
        with pytest.raises(ImageLoadError, match="empty") as error:
            model.edit(case, align=False)
        _one_line(error)


# ------------------------------------------------------------------- 5. config types


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("base_channels", 16.0, "an integer"),
        ("base_channels", True, "an integer"),
        ("image_size", "64", "an integer"),
        ("attribute", 5, "a string"),
        ("variant", None, "a string"),
        ("face_template", "eyes", "a list or None (null)"),
        ("extra", [], "an object (dict)"),
    ],
)
def test_config_fields_of_the_wrong_type_are_one_clear_error(tmp_path, field, value, expected):
    data = {"model_type": "sagan", "attribute": "eyeglasses", "image_size": 64, field: value}
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(InvalidWeightsError) as error:
        SaGANConfig.load(tmp_path)
    message = _one_line(error)
    assert f"{field} must be {expected}, got {value!r}" in message and "config.json" in message
    arguments = {k: v for k, v in data.items() if k != "model_type"}
    with pytest.raises(TypeError, match=re.escape(f"{field} must be {expected}")):
        SaGANConfig(**arguments)


def test_config_accepts_numpy_numbers_and_tuples_and_stores_plain_json(tmp_path):
    template = ((0.38, 0.49), (0.62, 0.49), (0.5, 0.67))
    config = SaGANConfig("smiling", image_size=np.int64(64), face_template=np.array(template))
    assert type(config.image_size) is int and config.face_template == [list(p) for p in template]
    assert SaGANConfig.load(config.save(tmp_path)) == config
    with pytest.raises(TypeError, match=r"face_template\[1\]\[0\] must be a number"):
        SaGANConfig("smiling", face_template=[[0.3, 0.4], ["x", 0.4], [0.5, 0.6]])


# ------------------------------------------------------------------- 13. edit's arguments


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"box": (0.5, 0, 10.5, 10)}, InvalidBoxError, "integers"),
        ({"box": "1234"}, InvalidBoxError, "4 integers"),
        ({"box": (True, 0, 10, 10)}, InvalidBoxError, "integers"),
        ({"faces": []}, ValueError, "names no face"),
        ({"faces": "0"}, ValueError, "faces must be a list"),
        ({"faces": [-1]}, ValueError, "integers >= 0"),
        ({"min_face_size": -5}, ValueError, "min_face_size must be an integer >= 1"),
        ({"min_face_size": 40.0}, ValueError, "min_face_size must be an integer >= 1"),
        ({"strength": "0.5"}, ValueError, "strength must be a number in [0, 1], got '0.5'"),
        ({"strength": float("nan")}, ValueError, "strength must be within [0, 1]"),
        ({"align": "no"}, ValueError, "align must be True, False or None"),
        ({"batch_size": True}, ValueError, "batch_size must be an integer >= 1"),
        ({"value": None}, ValueError, "value must be"),
        ({"detector": "dlib"}, ValueError, "detector must have a detect"),
    ],
)
def test_edit_arguments_are_checked_with_one_clear_message(model, arguments, error, words):
    photo = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(error) as info:
        model.edit(photo, **arguments)
    message = _one_line(info)
    assert words in message and "--" not in message


def test_good_arguments_of_other_types_still_work(model):
    photo = np.full((64, 64, 3), 120, np.uint8)
    expected = np.asarray(model.edit(photo, box=(0, 0, 64, 64)).image)
    for box in (np.array([0, 0, 64, 64]), [np.int64(0), 0, 64, 64]):
        assert np.array_equal(np.asarray(model.edit(photo, box=box, strength=1).image), expected)
    assert model.edit(photo, align=False, strength=np.float32(0.5)).image.size == (64, 64)


# ------------------------------------------------------------------- photos without a face


def test_crop_shape_rule():
    size = 64
    assert looks_like_crop(64, 64, size) and looks_like_crop(256, 256, size)
    assert looks_like_crop(178, 218, size)  # official aligned CelebA
    assert not looks_like_crop(640, 480, size)  # 4:3, either way up
    assert not looks_like_crop(300, 400, 256)
    assert not looks_like_crop(512, 512, size)  # the example photo: too large for a crop
    assert looks_like_crop(512, 512, 128) and not looks_like_crop(1024, 1024, 128)
    assert not looks_like_crop(0, 0, size)


def test_a_landscape_without_a_face_is_not_edited(model, tmp_path):
    sky = np.zeros((480, 640, 3), np.uint8)
    sky[:240] = (120, 170, 230)
    sky[240:] = (60, 140, 50)
    path = tmp_path / "landscape.png"
    Image.fromarray(sky).save(path)
    with pytest.raises(NoFaceFoundError) as error:
        model.edit(path, detector=NoFaces())
    message = _one_line(error)
    assert message.startswith(f"{path}: no face") and "align=False" in message
    assert "--" not in message
    # an aligned-crop-sized square without a detected face is still edited as it is
    assert not model.edit(sky[:200, :200], detector=NoFaces()).aligned


def test_without_the_extra_only_crop_sized_images_are_edited(model, monkeypatch, tmp_path):
    def unavailable():
        raise AlignmentUnavailableError("face detection needs dlib")

    monkeypatch.setattr("sagan_edit.model.get_detector", unavailable)
    path = tmp_path / "astronaut.png"
    Image.fromarray(np.full((512, 512, 3), 90, np.uint8)).save(path)
    with pytest.raises(AlignmentUnavailableError) as error:
        model.edit(path)
    message = _one_line(error)
    assert message.startswith(f"{path}: ") and 'pip install "sagan-edit[align]"' in message
    assert "align=False" in message and "--" not in message
    with pytest.raises(AlignmentUnavailableError, match="align=True"):
        model.edit(np.zeros((64, 64, 3), np.uint8), align=True)
    assert not model.edit(path, align=False).aligned
    assert not model.edit(np.zeros((218, 178, 3), np.uint8)).aligned


# ------------------------------------------------------------------- large and HEIC files


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixels (opening it reads only the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_large_images_decode_quietly_up_to_twice_pils_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 108-MP photo, scaled down
    pixels = np.random.default_rng(0).integers(0, 256, (36, 40, 3), dtype=np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(pixels).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning would fail the test
        assert np.array_equal(_decoded(path), pixels)
        with pytest.raises(ImageLoadError, match="not a readable image"):
            load_image(_png_header(40, 36))
    with pytest.raises(
        ImageLoadError, match=r"\(0.0025 megapixels\) is over the 0.002-megapixel limit"
    ) as error:
        load_image(_png_header(50, 50))
    _one_line(error)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000_000)
    with pytest.raises(ImageLoadError, match=r"\(400 megapixels\) is over the 100-megapixel"):
        load_image(_png_header(20000, 20000))


def test_heic_files_get_a_conversion_hint(tmp_path):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(heic)
    for source in (path, heic, Path(tmp_path / "renamed.jpg")):
        if isinstance(source, Path) and not source.exists():
            source.write_bytes(heic)
        with pytest.raises(ImageLoadError, match="HEIC/HEIF images are not supported") as error:
            load_image(source)
        assert "convert" in _one_line(error)

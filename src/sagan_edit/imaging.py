"""Image input and output: reading any input, the model crop, and full-resolution paste-back.

The networks run on square ``image_size`` images. A photo of any size is handled so:

1. it is read as 8-bit RGB (EXIF orientation applied; RGBA/LA/PA keep their alpha aside;
   grayscale and palette images are converted to RGB; see *Decoding* below);
2. the face region is cut out and resized to ``image_size`` (Lanczos): a square ``box`` given by
   the caller, or the **centred square** of side ``min(width, height)`` of an image that is
   already a face crop (photos whose faces must be found and aligned go through
   `sagan_edit.align` instead);
3. after the model ran, its attention mask is scaled by ``strength``, up-sampled (bilinear) to the
   crop's full size and quantised to 8 bits; the model's **change** to its input crop, AMN's image
   minus the crop (`model_change`, its colour low-passed by `CHROMA_SIGMA` crop pixels), is
   up-sampled (bicubic) likewise (a grey crop's change is its luma alone: `is_grey`);
4. the result is ``input + mask * change`` at full resolution (clamped to 0-255), inside the
   crop only (`paste_box`; faces aligned by `sagan_edit.align` are pasted back the same way,
   through the inverse of their alignment warp).

Adding the change, rather than blending AMN's up-sampled image over the input, keeps the input's
own detail under the mask: the model runs at 64-128 pixels, and a face in a photo is often
several times larger. Because the composite uses the same 8-bit mask that is returned, every
pixel whose mask value is 0 — including everything outside the face region — is bit-for-bit
the input; and where the model changes nothing, nothing changes, whatever the mask.

**Decoding.** Every input becomes an (H, W, 3) uint8 array; what cannot be is an
`ImageLoadError` of one line (naming the file, for paths):

- one-channel images of more than 8 bits are scaled by their range, never clipped: 16-bit
  (PIL modes ``I;16*``, e.g. 16-bit grey PNG and TIFF) is divided by 257; 32-bit integers
  (mode ``I``) are taken as 8-bit when no value exceeds 255 and as 16-bit up to 65535; floats
  (mode ``F``, e.g. float TIFF) must lie in [0, 1] and are multiplied by 255. Other ranges
  (negative, NaN, larger) are an error: nothing says where their black and white are;
- colour profiles: an RGB ICC profile is kept with the pixels (and carried to the output); a
  grey or CMYK profile converts the pixels to sRGB through it (`PIL.ImageCms`), and the
  output then carries no profile (untagged means sRGB); a profile that does not match the
  pixels, or cannot be read, is dropped. An RGB output never carries a non-RGB profile;
- size: empty images (0 pixels wide or high) are refused. Files of up to twice
  ``PIL.Image.MAX_IMAGE_PIXELS`` (about 179 megapixels by default; a 108-MP phone photo is
  fine) decode without PIL's ``DecompressionBombWarning``; larger ones are refused;
- HEIC/HEIF files that Pillow cannot read (no ``pillow-heif`` opener registered) get an error
  saying how to convert them;
- float tensors must be finite and within [0, 1]; numpy arrays must be uint8.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import numbers
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError, InvalidBoxError, first_line

ImageInput = Union[str, os.PathLike, bytes, Image.Image, np.ndarray, torch.Tensor]  # noqa: UP007
"""What `SaGAN.edit` accepts as one image (a (N, 3, H, W) tensor is a batch)."""


@dataclass
class SourceImage:
    """An input image decoded to an RGB uint8 array, with what is needed to rebuild its format."""

    rgb: np.ndarray
    """(H, W, 3) uint8."""
    alpha: np.ndarray | None = None
    """(H, W) uint8 alpha channel of RGBA/LA/PA inputs, else None."""
    info: dict[str, Any] = field(default_factory=dict)
    """Metadata to carry to the output (the ICC colour profile)."""
    name: str | None = None
    """The file name, when the input was a path."""

    def __post_init__(self) -> None:
        height, width = self.rgb.shape[:2]
        if height == 0 or width == 0:
            raise ImageLoadError(f"{_where(self.name)}the image is empty ({width}x{height} pixels)")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports sizes."""
        return self.rgb.shape[1], self.rgb.shape[0]


def load_images(images: ImageInput | Sequence[ImageInput]) -> tuple[list[SourceImage], bool]:
    """Decode one input or a batch (a list, or an (N, 3, H, W) tensor); say whether a batch."""
    batched = isinstance(images, (list, tuple)) or (
        isinstance(images, torch.Tensor) and images.ndim == 4
    )
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    return [source for item in items for source in load_image(item)], batched


def load_image(image: ImageInput) -> list[SourceImage]:
    """Decode one input into a list of images (more than one only for an (N, 3, H, W) tensor).

    Raises:
        ImageLoadError: the input cannot be read or understood as an image (one line, naming
            the file when it is a path; the module docstring gives the decoding rules).
    """
    if isinstance(image, (str, os.PathLike)):
        return [_decode_file(os.fsdecode(image))]
    if isinstance(image, (bytes, bytearray)):
        return [_decode_file(bytes(image))]
    if isinstance(image, Image.Image):
        return [_from_pil(image)]
    if isinstance(image, np.ndarray):
        return [_from_array(image)]
    if isinstance(image, torch.Tensor):
        return _from_tensor(image)
    raise ImageLoadError(
        f"unsupported image type {type(image).__name__}: pass a path, bytes, a PIL image, "
        "an HxWx3 uint8 array or a float tensor in [0, 1]"
    )


def _decode_file(source: str | bytes) -> SourceImage:
    """Open and decode a path (``str``) or encoded ``bytes``; any failure is one line."""
    name = source if isinstance(source, str) else None
    try:
        with _quiet_bomb_check():
            pil = Image.open(name if name is not None else io.BytesIO(source))
        with pil:
            limit = Image.MAX_IMAGE_PIXELS
            large = limit is not None and pil.width * pil.height > limit
            with _quiet_bomb_check() if large else contextlib.nullcontext():
                pil.load()
            return _from_pil(pil, name)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageLoadError(f"{name}: is a folder, not an image") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(_too_large(name, exc)) from None
    except UnidentifiedImageError as exc:
        if _is_heif(source):
            raise ImageLoadError(f"{_where(name)}{HEIF_UNSUPPORTED}") from None
        raise ImageLoadError(_unreadable(name, exc)) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageLoadError(_unreadable(name, exc)) from None


_BOMB_CHECK_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_bomb_check() -> Iterator[None]:
    """Silence PIL's `DecompressionBombWarning` (images over PIL's limit, about 89 MP).

    Images up to twice that limit (about 179 MP; a 108-MP phone photo is fine) are decoded
    without noise; above it PIL raises `DecompressionBombError`, reported as one line. Warning
    filters are process-wide, so a lock keeps two of these blocks from interleaving.
    """
    with _BOMB_CHECK_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _where(name: str | None) -> str:
    return f"{name}: " if name else ""


def _unreadable(name: str | None, exc: BaseException) -> str:
    if name:
        return f"{name}: not a readable image ({first_line(exc)})"
    return f"input bytes are not a readable image ({first_line(exc)})"


def _too_large(name: str | None, exc: BaseException) -> str:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f" ({int(found.group(1)) / 1e6:.3g} megapixels)" if found else ""
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
    return (
        f"{_where(name)}the image{size} is over the {limit:.3g}-megapixel limit (twice "
        "PIL.Image.MAX_IMAGE_PIXELS): downscale it first, or raise that limit"
    )


HEIF_UNSUPPORTED = (
    "HEIC/HEIF images are not supported by this installation's Pillow: convert the photo to "
    "JPEG or PNG first (e.g. `heif-convert photo.heic photo.jpg`), or install pillow-heif and "
    "call pillow_heif.register_heif_opener() before editing"
)
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
                b"mif1", b"msf1"}  # fmt: skip


def _is_heif(source: str | bytes) -> bool:
    """Whether an unreadable input is a HEIC/HEIF file (its suffix, or its ``ftyp`` box)."""
    if isinstance(source, str):
        if source.lower().endswith((".heic", ".heif", ".hif")):
            return True
        try:
            with open(source, "rb") as handle:
                source = handle.read(16)
        except OSError:
            return False
    return source[4:8] == b"ftyp" and source[8:12] in _HEIF_BRANDS


def _from_pil(pil: Image.Image, name: str | None = None) -> SourceImage:
    """Apply EXIF orientation; split into 8-bit RGB and alpha (module docstring, step 1)."""
    width, height = pil.size
    if width == 0 or height == 0:
        raise ImageLoadError(f"{_where(name)}the image is empty ({width}x{height} pixels)")
    icc = pil.info.get("icc_profile") or None
    pil = ImageOps.exif_transpose(pil)
    alpha = None
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        with_alpha = pil.convert("RGBA")
        alpha = np.asarray(with_alpha.getchannel("A")).copy()
        pil = pil.convert("L") if pil.mode == "LA" else with_alpha
    rgb, icc = _to_rgb(_to_8_bit(pil, name), icc, name)
    return SourceImage(rgb, alpha, {"icc_profile": icc} if icc else {}, name)


def to_rgb_image(image: Image.Image, name: str | None = None) -> Image.Image:
    """Convert any PIL image to 8-bit RGB by this module's decoding rules (its docstring).

    For readers that crop and resize with PIL themselves (the training data): high bit depths
    are scaled, grey and CMYK profiles applied; EXIF orientation is not applied and alpha is
    dropped, as ``image.convert("RGB")`` would.

    Args:
        image: a loaded PIL image of any mode.
        name: the file name, for error messages.

    Returns:
        A mode "RGB" image, carrying its ICC profile in ``info`` only when that is an RGB one.

    Raises:
        ImageLoadError: the image is empty, or its values have no known range (mode ``F``
            outside [0, 1], mode ``I`` over 16 bits).
    """
    width, height = image.size
    if width == 0 or height == 0:
        raise ImageLoadError(f"{_where(name)}the image is empty ({width}x{height} pixels)")
    icc = image.info.get("icc_profile") or None
    rgb, icc = _to_rgb(_to_8_bit(image, name), icc, name)
    converted = Image.fromarray(rgb, "RGB")
    if icc:
        converted.info["icc_profile"] = icc
    return converted


def _to_8_bit(pil: Image.Image, name: str | None) -> Image.Image:
    """Scale one-channel 16-bit, 32-bit integer and float images to mode "L" by their range.

    ``I;16*``: 0-65535, divided by 257 (rounded). ``I``: values up to 255 are taken as 8-bit,
    up to 65535 as 16-bit. ``F``: values in [0, 1], times 255. Anything else is an
    `ImageLoadError`: there is no way to tell what its black and white are.
    """
    if pil.mode not in ("I", "F") and not pil.mode.startswith("I;16"):
        return pil
    values = np.asarray(pil)
    if values.dtype.kind == "f":
        finite = bool(np.isfinite(values).all())
        if finite and 0.0 <= values.min() and values.max() <= 1.0:
            return Image.fromarray(np.rint(values * np.float32(255)).astype(np.uint8), "L")
        found = "NaN or infinite values" if not finite else _value_range(values)
        raise ImageLoadError(
            f"{_where(name)}a floating-point (mode F) image must hold values in [0, 1], it has "
            f"{found}: rescale it, or save it as an 8- or 16-bit image"
        )
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 255:
        return Image.fromarray(values.astype(np.uint8), "L")
    if low >= 0 and high <= 65535:
        wide = values.astype(np.uint32)
        return Image.fromarray(((wide * 2 + 257) // 514).astype(np.uint8), "L")
    raise ImageLoadError(
        f"{_where(name)}an integer (mode {pil.mode}) image must hold 8- or 16-bit values "
        f"(0-65535), it has {_value_range(values)}: save it as an 8- or 16-bit image"
    )


def _value_range(values: np.ndarray) -> str:
    return f"values in [{values.min():g}, {values.max():g}]"


_RGB_PROFILE_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "YCbCr")
"""Modes whose pixels an RGB colour profile describes (after conversion to RGB)."""


def _to_rgb(
    pil: Image.Image, icc: bytes | None, name: str | None
) -> tuple[np.ndarray, bytes | None]:
    """Convert to (H, W, 3) uint8 RGB; return it with the ICC profile it is in (or None).

    An RGB profile on RGB-like pixels is kept unchanged; a grey or CMYK profile on grey or CMYK
    pixels converts them to sRGB through it (no profile is then carried: untagged is sRGB); a
    profile that does not match the pixels, or cannot be read, is dropped.
    """
    space = _icc_colour_space(icc)
    if space in ("GRAY", "CMYK"):
        converted = _profile_to_srgb(pil, icc, space)  # type: ignore[arg-type]
        if converted is not None:
            return converted, None
    keep = icc if space == "RGB" and pil.mode in _RGB_PROFILE_MODES else None
    try:
        rgb = pil.convert("RGB")
    except ValueError as exc:
        raise ImageLoadError(
            f"{_where(name)}a mode-{pil.mode} image cannot be converted to RGB ({first_line(exc)})"
        ) from None
    return np.asarray(rgb).copy(), keep


def _icc_colour_space(icc: bytes | None) -> str | None:
    """The data colour space an ICC profile's header names (``"RGB"``, ``"GRAY"``, ``"CMYK"``)."""
    if not icc or len(icc) < 128:
        return None
    return icc[16:20].decode("latin-1").strip()


def _profile_to_srgb(pil: Image.Image, icc: bytes, space: str) -> np.ndarray | None:
    """Convert grey or CMYK pixels to sRGB through their profile; None when it cannot be done."""
    modes = ("CMYK",) if space == "CMYK" else ("1", "L", "LA")
    if pil.mode not in modes:
        return None
    try:
        from PIL import ImageCms
    except ImportError:  # Pillow built without littlecms
        return None
    base = pil if pil.mode == "CMYK" else pil.convert("L")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.profileToProfile(base, source, _srgb_profile(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return np.asarray(srgb).copy() if srgb is not None else None


@functools.cache
def _srgb_profile() -> Any:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _from_array(array: np.ndarray) -> SourceImage:
    if array.dtype != np.uint8:
        raise ImageLoadError(
            f"numpy images must be uint8 (got {array.dtype}); for floats in [0, 1] pass a "
            "torch tensor of shape (3, H, W)"
        )
    if array.ndim == 2:
        return SourceImage(np.repeat(array[:, :, None], 3, axis=2))
    if array.ndim == 3 and array.shape[2] == 3:
        return SourceImage(np.ascontiguousarray(array))
    if array.ndim == 3 and array.shape[2] == 4:
        return SourceImage(np.ascontiguousarray(array[:, :, :3]), array[:, :, 3].copy())
    raise ImageLoadError(f"numpy images must be HxW, HxWx3 or HxWx4 (got shape {array.shape})")


def _from_tensor(tensor: torch.Tensor) -> list[SourceImage]:
    if not tensor.is_floating_point():
        raise ImageLoadError(f"image tensors must be float in [0, 1] (got {tensor.dtype})")
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise ImageLoadError(
            f"image tensors must be (3, H, W) or (N, 3, H, W), got {tuple(tensor.shape)}"
        )
    if not bool(torch.isfinite(tensor).all()):
        raise ImageLoadError("image tensors must hold finite values in [0, 1] (found NaN or inf)")
    if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
        raise ImageLoadError("image tensors must hold values in [0, 1]")
    arrays = (tensor.detach().float().cpu() * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    return [SourceImage(a.numpy().copy()) for a in arrays]


Box = tuple[int, int, int, int]
"""A square face region (left, top, right, bottom) in pixels, right and bottom exclusive."""


def center_square(width: int, height: int) -> Box:
    """Return the (left, top, right, bottom) box of the centred square of side min(w, h)."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def check_box(box: object) -> Box | None:
    """Check a ``box=`` argument: None, or 4 integers forming a non-empty square.

    Args:
        box: ``(left, top, right, bottom)`` in pixels (right and bottom exclusive), or None.

    Returns:
        The box as a tuple of 4 ``int``, or None.

    Raises:
        InvalidBoxError: not a sequence of 4 integers (a string, floats, bools), or not a
            non-empty square. Whether it fits an image is checked by `face_box`.
    """
    if box is None:
        return None
    if isinstance(box, (str, bytes)) or not isinstance(box, (Sequence, np.ndarray)):
        raise InvalidBoxError(
            f"box must be 4 integers (left, top, right, bottom), got {box!r} ({type(box).__name__})"
        )
    values = list(box)
    shown = "(" + ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in values)
    shown += ")"
    if len(values) != 4:
        raise InvalidBoxError(f"box must be (left, top, right, bottom), got {shown}")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise InvalidBoxError(f"box must hold 4 integers (whole pixels), got {shown}")
    left, top, right, bottom = (int(v) for v in values)
    if right - left != bottom - top or right <= left:
        raise InvalidBoxError(f"box {shown} must be a non-empty square (right-left == bottom-top)")
    return left, top, right, bottom


def face_box(source: SourceImage, box: Sequence[int] | None) -> Box:
    """Check a user-given face box against the image, or default to the centred square.

    Raises:
        InvalidBoxError: the box is malformed (`check_box`) or lies outside the image.
    """
    width, height = source.size
    checked = check_box(box)
    if checked is None:
        return center_square(width, height)
    left, top, right, bottom = checked
    if left < 0 or top < 0 or right > width or bottom > height:
        raise InvalidBoxError(
            f"{_where(source.name)}box {checked} lies outside the {width}x{height} image"
        )
    return checked


def to_model_input(source: SourceImage, size: int, box: Box | None = None) -> torch.Tensor:
    """Cut ``box`` (default: the centred square), resize to ``size``: (3, S, S) in [-1, 1]."""
    left, top, right, bottom = box or center_square(*source.size)
    # a numpy slice, not PIL's crop: the same pixels, without PIL's size warning on big crops
    crop = Image.fromarray(source.rgb[top:bottom, left:right])
    if crop.size != (size, size):
        crop = crop.resize((size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(crop).copy()).permute(2, 0, 1).float().div(127.5).sub(1.0)


CHROMA_SIGMA = 1.0
"""Gaussian low-pass of the colour of a model's change before it is pasted, in crop pixels.

AMN's images carry pixel-sized rainbow noise (seen in the embedded eyeglasses model); added to
a photo, it shows as colour speckles. Eyes resolve colour more coarsely than brightness (why
JPEG halves chroma resolution), so the change's chroma is low-passed and its luma kept: on
``benchmarks/bench_paste.py``'s photos this cuts speckles under the mask from 15-31 % of the
pixels to 2-7 %, and keeps 85-94 % of the coarse colour change and all of the luma change."""

# BT.601 full-range RGB -> (Y, Cb, Cr), JPEG's, without the offsets (changes, not colours)
_TO_YCC = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_FROM_YCC = torch.linalg.inv(_TO_YCC)

GREY_TOLERANCE = 2.0
"""Largest difference between a face crop's colour channels, in 8-bit levels, for which the crop
is taken as black and white. The models are trained on colour faces and their change carries
colour; on a grey photo any colour is wrong, so there only the change's luma is pasted. The
tolerance lets a grey photo stored as an RGB JPEG count as grey."""


def is_grey(crop: torch.Tensor, tolerance: float = GREY_TOLERANCE) -> bool:
    """Whether no pixel of a (3, S, S) crop in [-1, 1] has channels over ``tolerance`` apart."""
    crop = crop.float()
    return bool((crop.amax(0) - crop.amin(0)).max() * 127.5 <= tolerance)


def model_change(
    amn_image: torch.Tensor, crop: torch.Tensor, chroma_sigma: float = CHROMA_SIGMA
) -> torch.Tensor:
    """The model's change to its input crop, ``I_a - I``, in 8-bit levels: (3, S, S) float32.

    ``amn_image`` and ``crop`` are (3, S, S) in [-1, 1]. The change's colour (Cb, Cr) is
    low-passed by a Gaussian of ``chroma_sigma`` crop pixels (`CHROMA_SIGMA`; 0: not at all),
    its luma kept; the change to a grey crop (`is_grey`) is its luma alone, the same in all
    three channels, so a black-and-white photo stays so. A zero change stays exactly zero.
    """
    change = (amn_image.float().cpu() - crop.float().cpu()) * 127.5
    if is_grey(crop):
        luma = torch.einsum("c,chw->hw", _TO_YCC[0], change)
        return luma.expand_as(change).contiguous()
    if chroma_sigma <= 0:
        return change
    ycc = (_TO_YCC @ change.flatten(1)).view_as(change)
    ycc = torch.cat([ycc[:1], _gaussian_blur(ycc[1:], chroma_sigma)])
    return (_FROM_YCC @ ycc.flatten(1)).view_as(change)


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur (C, H, W) ``image`` with a separable Gaussian of ``sigma`` pixels, edges repeated."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(image.dtype)
    channels = image.shape[0]
    x = image[:, None]  # channels as a batch: one kernel for all
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x.view(channels, *image.shape[1:])


def paste_box(
    out: np.ndarray,
    full_mask: np.ndarray,
    box: Box,
    change: torch.Tensor,
    mask: torch.Tensor,
    strength: float = 1.0,
) -> None:
    """Add a model-resolution change to ``box`` of ``out`` in place (module docstring, 3-4).

    ``out`` is the (H, W, 3) uint8 image being built, ``full_mask`` its (H, W) uint8 mask;
    ``change`` is the model's change to its crop (`model_change`), (3, s, s) in 8-bit levels,
    and ``mask`` (1, s, s) in [0, 1].
    """
    left, top, right, bottom = box
    side = right - left
    mask = (mask.float().cpu() * strength).clamp(0, 1).unsqueeze(0)
    change = change.float().cpu().unsqueeze(0)
    if side != mask.shape[-1]:
        mask = F.interpolate(mask, size=(side, side), mode="bilinear", align_corners=False)
        change = F.interpolate(change, size=(side, side), mode="bicubic", align_corners=False)
    mask_u8 = quantise_mask(mask[0, 0])
    full_mask[top:bottom, left:right] = mask_u8
    add_change(out[top:bottom, left:right], mask_u8, change[0].permute(1, 2, 0).numpy())


def quantise_mask(mask: torch.Tensor) -> np.ndarray:
    """Return a mask in [0, 1] as the uint8 array (0-255) that the composite uses."""
    return mask.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()


def add_change(region: np.ndarray, mask_u8: np.ndarray, change: np.ndarray) -> None:
    """Blend ``region`` in place towards ``region + change`` (clamped) through the 8-bit mask.

    ``region`` is (h, w, 3) uint8 (a view into the output), ``mask_u8`` (h, w) uint8 and
    ``change`` (h, w, 3) float in 8-bit levels. Pixels whose mask is 0 are not touched, and
    where ``change`` is 0 the result is ``region`` exactly, whatever the mask.
    """
    touched = mask_u8 > 0
    weight = mask_u8[touched].astype(np.float32)[:, None] / 255.0
    before = region[touched].astype(np.float32)
    edited = np.clip(before + change[touched], 0, 255)
    region[touched] = np.clip(np.rint(before + weight * (edited - before)), 0, 255)


def to_output(source: SourceImage, rgb: np.ndarray) -> Image.Image:
    """Rebuild the output image from edited pixels: the input's alpha and colour profile back."""
    if source.alpha is not None:
        edited = Image.fromarray(np.dstack([rgb, source.alpha]), "RGBA")
    else:
        edited = Image.fromarray(rgb, "RGB")
    edited.info.update(source.info)
    return edited


CROP_ASPECT_RANGE = (0.8, 1.25)
"""Width / height of images that may be aligned face crops: squares and CelebA's 178x218
(0.82) are in; 4:3, 3:2 and 16:9 photos, either way up, are out."""
CROP_MAX_SCALE = 4
"""Largest side of a face crop, in multiples of the model's ``image_size``."""


def looks_like_crop(width: int, height: int, image_size: int) -> bool:
    """Whether an image may be an aligned face crop for a model of ``image_size``.

    True when it is near-square (width / height within `CROP_ASPECT_RANGE`, 0.8-1.25) and no
    side is longer than `CROP_MAX_SCALE` (4) times ``image_size``: data-set crops are stored
    at about the size models train at (CelebA's 178x218 and CelebA-HQ's 128-512 px squares
    for 64-128 px models). Photos — wider or taller, or much larger than a crop — are not.
    `SaGAN.edit` uses it to decide which images may be edited as they are when no face is
    found in them (or no detector is installed).

    Args:
        width: image width in pixels.
        height: image height in pixels.
        image_size: the side the model runs at (``SaGANConfig.image_size``).
    """
    if width < 1 or height < 1:
        return False
    low, high = CROP_ASPECT_RANGE
    return max(width, height) <= CROP_MAX_SCALE * image_size and low <= width / height <= high

"""Image input and output: reading any input, the model crop, and full-resolution paste-back.

The networks run on square ``image_size`` images. A photo of any size is handled so:

1. it is read as RGB (EXIF orientation applied; RGBA/LA/PA keep their alpha aside; grayscale and
   palette images are converted to RGB);
2. the face region is cut out and resized to ``image_size`` (Lanczos): a square ``box`` given by
   the caller, or the **centred square** of side ``min(width, height)`` of an image that is
   already a face crop (photos whose faces must be found and aligned go through
   `sagan_edit.align` instead);
3. after the model ran, its attention mask is scaled by ``strength``, up-sampled (bilinear) to the
   crop's full size and quantised to 8 bits; AMN's image is up-sampled (bicubic) likewise;
4. the result is ``input + mask * (amn - input)`` at full resolution, inside the crop only
   (`paste_box`; faces aligned by `sagan_edit.align` are pasted back the same way, through the
   inverse of their alignment warp).

Because the composite uses the same 8-bit mask that is returned, every pixel whose mask value is
0 — including everything outside the face region — is bit-for-bit the input.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError, InvalidBoxError

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
    """Decode one input into a list of images (more than one only for an (N, 3, H, W) tensor)."""
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        try:
            with Image.open(path) as pil:
                pil.load()
                return [_from_pil(pil, name=path)]
        except FileNotFoundError:
            raise ImageLoadError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ImageLoadError(f"{path}: is a folder, not an image") from None
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageLoadError(f"{path}: not a readable image ({_first_line(exc)})") from None
    if isinstance(image, (bytes, bytearray)):
        try:
            with Image.open(io.BytesIO(image)) as pil:
                pil.load()
                return [_from_pil(pil)]
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageLoadError(
                f"input bytes are not a readable image ({_first_line(exc)})"
            ) from None
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _from_pil(pil: Image.Image, name: str | None = None) -> SourceImage:
    """Apply EXIF orientation and split into RGB and alpha."""
    info = {"icc_profile": pil.info["icc_profile"]} if pil.info.get("icc_profile") else {}
    pil = ImageOps.exif_transpose(pil)
    alpha = None
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A")).copy()
        rgb = np.asarray(rgba.convert("RGB")).copy()
    else:
        rgb = np.asarray(pil.convert("RGB")).copy()
    return SourceImage(rgb, alpha, info, name)


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


def face_box(source: SourceImage, box: Sequence[int] | None) -> Box:
    """Check a user-given face box against the image, or default to the centred square."""
    width, height = source.size
    if box is None:
        return center_square(width, height)
    if len(box) != 4:
        raise InvalidBoxError(f"box must be (left, top, right, bottom), got {tuple(box)}")
    left, top, right, bottom = (int(v) for v in box)
    if right - left != bottom - top or right <= left:
        raise InvalidBoxError(
            f"box {tuple(box)} must be a non-empty square (right-left == bottom-top)"
        )
    if left < 0 or top < 0 or right > width or bottom > height:
        raise InvalidBoxError(f"box {tuple(box)} lies outside the {width}x{height} image")
    return left, top, right, bottom


def to_model_input(source: SourceImage, size: int, box: Box | None = None) -> torch.Tensor:
    """Cut ``box`` (default: the centred square), resize to ``size``: (3, S, S) in [-1, 1]."""
    crop = Image.fromarray(source.rgb).crop(box or center_square(*source.size))
    if crop.size != (size, size):
        crop = crop.resize((size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(crop).copy()).permute(2, 0, 1).float().div(127.5).sub(1.0)


def paste_box(
    out: np.ndarray,
    full_mask: np.ndarray,
    box: Box,
    amn_image: torch.Tensor,
    mask: torch.Tensor,
    strength: float = 1.0,
) -> None:
    """Paste a model-resolution edit into ``box`` of ``out`` in place (module docstring, 3-4).

    ``out`` is the (H, W, 3) uint8 image being built, ``full_mask`` its (H, W) uint8 mask;
    ``amn_image`` is (3, s, s) in [-1, 1] and ``mask`` (1, s, s) in [0, 1].
    """
    left, top, right, bottom = box
    side = right - left
    mask = (mask.float().cpu() * strength).clamp(0, 1).unsqueeze(0)
    amn = amn_image.float().cpu().add(1).mul(127.5).unsqueeze(0)
    if side != mask.shape[-1]:
        mask = F.interpolate(mask, size=(side, side), mode="bilinear", align_corners=False)
        amn = F.interpolate(amn, size=(side, side), mode="bicubic", align_corners=False)
    mask_u8 = quantise_mask(mask[0, 0])
    full_mask[top:bottom, left:right] = mask_u8
    blend(out[top:bottom, left:right], mask_u8, amn[0].clamp(0, 255).permute(1, 2, 0).numpy())


def quantise_mask(mask: torch.Tensor) -> np.ndarray:
    """Return a mask in [0, 1] as the uint8 array (0-255) that the composite uses."""
    return mask.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()


def blend(region: np.ndarray, mask_u8: np.ndarray, edit: np.ndarray) -> None:
    """Composite in place: ``region + mask/255 * (edit - region)``, rounded, where mask > 0.

    ``region`` is (h, w, 3) uint8 (a view into the output), ``mask_u8`` (h, w) uint8 and
    ``edit`` (h, w, 3) float in [0, 255]. Pixels whose mask is 0 are not touched.
    """
    touched = mask_u8 > 0
    weight = mask_u8[touched].astype(np.float32)[:, None] / 255.0
    before = region[touched].astype(np.float32)
    region[touched] = np.clip(np.rint(before + weight * (edit[touched] - before)), 0, 255)


def to_output(source: SourceImage, rgb: np.ndarray) -> Image.Image:
    """Rebuild the output image from edited pixels: the input's alpha and colour profile back."""
    if source.alpha is not None:
        edited = Image.fromarray(np.dstack([rgb, source.alpha]), "RGBA")
    else:
        edited = Image.fromarray(rgb, "RGB")
    edited.info.update(source.info)
    return edited


def looks_like_crop(width: int, height: int) -> bool:
    """Whether an image's shape is that of a face crop: near-square and at most 1024 px.

    Data-set crops (CelebA-HQ 128-1024 px squares, CelebA's 178x218) pass; phone photos and
    group shots do not. Used by `SaGAN.edit` to decide, when not told, whether to align faces.
    """
    return max(width, height) <= 1024 and 0.75 <= width / height <= 4 / 3

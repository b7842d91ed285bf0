"""Image decoding for the data sets: `decode_image` (crop and resize) and `to_tensor` (scaling).

Resizing is PIL's Lanczos after cropping, as at inference; for JPEGs more than 4× the target,
libjpeg's DCT scaling first reduces them to no less than 2× (PIL's ``thumbnail`` rule), several
times faster and within a grey level on average.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageLoadError, first_line
from ..imaging import to_rgb_image

__all__ = ["decode_image", "to_tensor"]


def decode_image(
    path: str | os.PathLike[str], image_size: int, crop: int | None = None
) -> np.ndarray:
    """Read an image as (image_size, image_size, 3) uint8: centred square of side ``crop``, Lanczos.

    ``crop=None`` takes the largest centred square (as inference does); a ``crop`` larger than
    the image is clipped to it. EXIF orientation is applied. Raises `ImageLoadError` naming
    the file.
    """
    try:
        with Image.open(path) as image:
            if image.getexif().get(0x0112, 1) != 1:
                image = ImageOps.exif_transpose(image)
            width, height = image.size
            side = min(width, height) if crop is None else min(crop, width, height)
            left, top = (width - side) // 2, (height - side) // 2
            if image.format == "JPEG" and side >= 4 * image_size:
                # DCT scaling to no less than 2x the target, then Lanczos (PIL's thumbnail rule):
                # several times faster on large sources, within a grey level of the full decode
                factor = 2 * image_size / side
                image.draft("RGB", (math.ceil(width * factor), math.ceil(height * factor)))
            if image.mode != "RGB":  # high bit depths scaled, grey/CMYK profiles applied
                image = to_rgb_image(image, str(path))
            if image.size != (width, height):
                # the crop box falls between pixels of the reduced image: resample it directly
                sx, sy = image.size[0] / width, image.size[1] / height
                box = (left * sx, top * sy, (left + side) * sx, (top + side) * sy)
                image = image.resize((image_size, image_size), Image.Resampling.LANCZOS, box=box)
            else:
                # crop, then resize: the convention of StarGAN and of inference (imaging.py)
                if (side, side) != image.size:
                    image = image.crop((left, top, left + side, top + side))
                if image.size != (image_size, image_size):
                    image = image.resize((image_size, image_size), Image.Resampling.LANCZOS)
            return np.array(image)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageLoadError(f"{path}: is a folder, not an image") from None
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise ImageLoadError(f"{path}: not a readable image ({first_line(exc)})") from None


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1], scaled as at inference (x / 127.5 - 1)."""
    return torch.from_numpy(_scale(np.ascontiguousarray(pixels.transpose(2, 0, 1), np.float32)))


def _scale(array: np.ndarray) -> np.ndarray:
    # numpy, not torch: on a loaded CPU torch's intra-op threads made this 20x slower per image;
    # the result is bit-identical to inference's torch x.div(127.5).sub(1)
    array /= np.float32(127.5)
    array -= np.float32(1.0)
    return array

"""Draw the "How it works" figure from a real edit: input, AMN output, SAN mask, blend, photo.

Runs the embedded ``eyeglasses`` model on ``examples/astronaut.png`` (offline, needs the
``align`` extra) step by step, the way `SaGAN.edit` does it:

1. the face is detected and aligned to the model's template (`sagan_edit.align`): the input
   crop ``I``;
2. the generator's two networks run on it: AMN's whole-image edit ``I_a`` and SAN's mask ``b``;
3. the blend ``I_a * b + I * (1 - b)`` (the paper's Eq. 7) is the edited crop;
4. `SaGAN.edit` pastes the edit back into the photo at full resolution (the last panel, the
   face region of ``result.image``).

It checks that step 3 is the generator's own output, then writes one PNG (default
``docs/images/how-it-works.png``)::

    python scripts/how_it_works_figure.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from sagan_edit import SaGAN
from sagan_edit.align import CELEBAHQ_TEMPLATE, FaceAlignment, get_detector
from sagan_edit.imaging import load_image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.png"
PANEL = 256  # pixels per panel: the 64-pixel crops are enlarged 4x (nearest, pixels stay visible)
LABEL = 64  # height of the label strip above each panel
GAP = 16


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """(3, S, S) in [-1, 1] or (1, S, S) in [0, 1] -> an RGB image of PANEL pixels."""
    array = tensor.float().cpu()
    if array.shape[0] == 1:
        array = array.expand(3, -1, -1) * 2 - 1
    pixels = array.add(1).mul(127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(pixels).resize((PANEL, PANEL), Image.Resampling.NEAREST)


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one small bitmap font
        return ImageFont.load_default()


def figure(panels: list[tuple[str, str, Image.Image]]) -> Image.Image:
    """Lay the panels out in a row, each under a two-line label."""
    width = len(panels) * PANEL + (len(panels) + 1) * GAP
    canvas = Image.new("RGB", (width, LABEL + PANEL + 2 * GAP), "white")
    draw = ImageDraw.Draw(canvas)
    title, subtitle = font(30), font(22)
    for k, (name, formula, image) in enumerate(panels):
        left = GAP + k * (PANEL + GAP)
        draw.text((left, GAP - 4), name, fill="black", font=title)
        draw.text((left, GAP + 30), formula, fill=(90, 90, 90), font=subtitle)
        canvas.paste(image, (left, GAP + LABEL))
    return canvas


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "how-it-works.png")
    args = parser.parse_args()

    model = SaGAN.from_pretrained("eyeglasses", device="cpu")
    size = model.config.image_size
    photo = load_image(EXAMPLE)[0]
    faces = get_detector().detect(photo.rgb)
    assert len(faces) == 1, f"expected one face in {EXAMPLE.name}, found {len(faces)}"
    template = model.config.face_template or CELEBAHQ_TEMPLATE
    alignment = FaceAlignment.fit(faces[0].landmarks, template, size)
    crop = alignment.crop(photo.rgb)  # I, (3, S, S) in [-1, 1]

    out = model.generator(crop[None].to(model.dtype), torch.ones(1, dtype=model.dtype))
    amn, mask, blended = out.amn_image[0], out.mask[0], out.image[0]
    by_hand = amn.float() * mask.float() + crop * (1 - mask.float())
    assert torch.allclose(by_hand, blended.float(), atol=1e-2), "blend is not Eq. 7"

    result = model.edit(EXAMPLE, value=True)  # the library's own path, for the last panel
    left, top, right, bottom = alignment.photo_region(*Image.open(EXAMPLE).size, margin=0)
    side = max(right - left, bottom - top)
    region = result.image.convert("RGB").crop((left, top, left + side, top + side))
    region = region.resize((PANEL, PANEL), Image.Resampling.LANCZOS)

    panels = [
        ("input", "I (aligned crop)", to_pil(crop)),
        ("AMN", "I_a, the whole image", to_pil(amn)),
        ("SAN", "mask b (white = 1)", to_pil(mask)),
        ("blend", "I_a * b + I * (1 - b)", to_pil(blended)),
        ("pasted back", "the photo, full size", region),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure(panels).save(args.out, optimize=True)
    mean_mask = float(mask.float().mean())
    changed = np.abs(np.asarray(result.image.convert("RGB"), np.int16) - photo.rgb).max(-1) > 0
    print(f"{args.out}: mask mean {mean_mask:.3f}; photo pixels changed {changed.mean():.2%}")


if __name__ == "__main__":
    main()

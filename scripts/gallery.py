"""Draw the Gallery page's picture: every model embedded in the package, on the example photos.

For each alias whose model ships inside the package (`sagan_edit.list_models`, source
"embedded"), one block: the alias, then one row per public-domain example photo
(``examples/astronaut.png``, ``grace_hopper.jpg`` and ``marie_curie.png``; see
``examples/README.md``) showing the face region of the photo, the attribute added and its mask,
the attribute removed and its mask (both edits of the photo itself). The column names head the
picture once; each photo panel carries its caption. Offline; needs the ``align`` extra. Rerun it
when more models are embedded::

    python scripts/gallery.py            # writes docs/images/gallery.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sagan_edit import SaGAN, list_models

ROOT = Path(__file__).resolve().parents[1]
#: The public-domain example photos, each with the caption drawn on its panel.
PHOTOS = [
    (ROOT / "examples" / "astronaut.png", "Eileen Collins (NASA)"),
    (ROOT / "examples" / "grace_hopper.jpg", "Grace Hopper (US Navy)"),
    (ROOT / "examples" / "marie_curie.png", "Marie Curie (c. 1920)"),
]
COLUMNS = ["photo", "add", "mask of the add", "remove", "mask of the remove"]
PANEL = 224  # side of one square panel
HEADER = 36  # height of the column names, and of each model's name
GAP = 12  # between panels, and around the picture
BLOCK_GAP = 20  # extra space between two models' blocks


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one small bitmap font
        return ImageFont.load_default()


def face_square(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, ...]:
    """A square around the detector's face box, with room for the hair, inside the photo."""
    left, top, right, bottom = box
    side = round(1.8 * max(right - left, bottom - top))
    cx, cy = (left + right) / 2, (top + bottom) / 2 - 0.1 * side
    side = min(side, width, height)
    x0 = min(max(0, round(cx - side / 2)), width - side)
    y0 = min(max(0, round(cy - side / 2)), height - side)
    return x0, y0, x0 + side, y0 + side


def caption(panel: Image.Image, text: str) -> Image.Image:
    """``panel`` with ``text`` on a dark strip along its bottom edge."""
    panel = panel.copy()
    draw = ImageDraw.Draw(panel, "RGBA")
    size = font(16)
    height = 24
    draw.rectangle((0, PANEL - height, PANEL, PANEL), fill=(0, 0, 0, 170))
    draw.text((6, PANEL - height + 3), text, fill="white", font=size)
    return panel


def panels(model: SaGAN, alias: str, photo: Path, name: str) -> list[Image.Image]:
    """The row of ``alias`` on ``photo``: the face region of the photo, then the two edits."""
    added = model.edit(photo, value=True)
    removed = model.edit(photo, value=False)
    square = face_square(added.faces[0].box, *added.image.size)
    images = [
        Image.open(photo).convert("RGB"),
        added.image.convert("RGB"),
        added.mask.convert("RGB"),
        removed.image.convert("RGB"),
        removed.mask.convert("RGB"),
    ]
    row = [image.crop(square).resize((PANEL, PANEL), Image.Resampling.LANCZOS) for image in images]
    row[0] = caption(row[0], name)
    print(f"{alias} on {photo.name}: add changes {sum(added.mask.histogram()[1:])} pixels")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "gallery.png")
    args = parser.parse_args()

    blocks = []  # [(alias, [row for each photo]), ...]
    for info in list_models():
        if info.embedded is None:
            continue
        model = SaGAN.from_pretrained(info.alias, device="cpu")
        rows = [panels(model, info.alias, photo, name) for photo, name in PHOTOS]
        blocks.append((info.alias, rows))
    if not blocks:
        raise SystemExit("no model is embedded in the package")

    block_height = HEADER + len(PHOTOS) * (PANEL + GAP)
    width = len(COLUMNS) * PANEL + (len(COLUMNS) + 1) * GAP
    height = GAP + HEADER + len(blocks) * block_height + (len(blocks) - 1) * BLOCK_GAP
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for c, name in enumerate(COLUMNS):
        draw.text((GAP + c * (PANEL + GAP), GAP), name, fill="black", font=font(22))
    for b, (alias, rows) in enumerate(blocks):
        top = GAP + HEADER + b * (block_height + BLOCK_GAP)
        draw.line((GAP, top, width - GAP, top), fill="gray", width=2)
        draw.text((GAP, top + 6), alias, fill="black", font=font(24))
        for r, row in enumerate(rows):
            y = top + HEADER + r * (PANEL + GAP)
            for c, image in enumerate(row):
                canvas.paste(image, (GAP + c * (PANEL + GAP), y))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out, optimize=True)
    print(args.out, f"{width}x{height}")


if __name__ == "__main__":
    main()

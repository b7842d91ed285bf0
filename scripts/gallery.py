"""Draw the Gallery page's picture: every model embedded in the package, on the example photo.

For each alias whose model ships inside the package (`sagan_edit.list_models`, source
"embedded"), one row: the face region of ``examples/astronaut.png``, the attribute added and
its mask, the attribute removed and its mask (both edits of the photo itself). Offline; needs the
``align`` extra. Rerun it when more models are embedded::

    python scripts/gallery.py            # writes docs/images/gallery.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sagan_edit import SaGAN, list_models

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.png"
PANEL = 256
LABEL = 40
GAP = 16


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "gallery.png")
    args = parser.parse_args()

    rows = []
    for info in list_models():
        if info.embedded is None:
            continue
        model = SaGAN.from_pretrained(info.alias, device="cpu")
        added = model.edit(EXAMPLE, value=True)
        removed = model.edit(EXAMPLE, value=False)
        square = face_square(added.faces[0].box, *added.image.size)
        panels = [
            (info.alias, Image.open(EXAMPLE).convert("RGB")),  # the photo, named by its row
            ("add", added.image.convert("RGB")),
            ("mask of the add", added.mask.convert("RGB")),
            ("remove", removed.image.convert("RGB")),
            ("mask of the remove", removed.mask.convert("RGB")),
        ]
        rows.append(
            [(name, image.crop(square).resize((PANEL, PANEL), Image.Resampling.LANCZOS))
             for name, image in panels]
        )  # fmt: skip
        print(f"{info.alias}: add changes {sum(added.mask.histogram()[1:])} pixels of the photo")
    if not rows:
        raise SystemExit("no model is embedded in the package")

    columns = len(rows[0])
    width = columns * PANEL + (columns + 1) * GAP
    height = len(rows) * (LABEL + PANEL + GAP) + GAP
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    text = font(22)
    for r, row in enumerate(rows):
        top = GAP + r * (LABEL + PANEL + GAP)
        for c, (name, image) in enumerate(row):
            left = GAP + c * (PANEL + GAP)
            draw.text((left, top), name, fill="black", font=text)
            canvas.paste(image, (left, top + LABEL))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()

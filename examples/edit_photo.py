"""Edit the face in a wider photo by giving `SaGAN.edit` a square box around it.

SaGAN models are trained on tightly aligned face crops. By default `SaGAN.edit` runs the model on
the centred square of its input; for a portrait where the face is small, such as
``examples/astronaut.png``, pass ``box=`` — a square around the head, framed like the training
crops. Only pixels inside the box can change, and every pixel where the attention mask is 0 comes
back bit-for-bit, at the photo's full resolution.

Usage (from the repository root)::

    python examples/edit_photo.py path/to/model-folder            # astronaut, add the attribute
    python examples/edit_photo.py path/to/model-folder --remove

The same from the command line::

    sagan-edit examples/astronaut.png --weights path/to/model-folder --box 144,26,304,186
"""

from __future__ import annotations

import sys
from pathlib import Path

from sagan_edit import SaGAN, SaGANError

PHOTO = Path(__file__).resolve().parent / "astronaut.png"
#: A square around Eileen Collins' head in the 512x512 portrait, framed like a CelebA-HQ crop.
FACE_BOX = (144, 26, 304, 186)


def main(argv: list[str]) -> int:
    """Edit the astronaut photo with the model in ``argv[0]``; return the exit status."""
    if not argv or argv[0].startswith("-"):
        print("usage: python examples/edit_photo.py MODEL [--remove]", file=sys.stderr)
        return 2
    try:
        model = SaGAN.from_pretrained(argv[0])
        result = model.edit(PHOTO, value="--remove" not in argv, box=FACE_BOX)
    except SaGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result.image.save("astronaut_edited.png")
    result.mask.save("astronaut_mask.png")
    print("wrote astronaut_edited.png and astronaut_mask.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

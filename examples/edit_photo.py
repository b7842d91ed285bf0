"""Edit the face in a wider photo: crop a square around it, edit the crop, paste it back.

SaGAN models are trained on tightly aligned face crops, and `SaGAN.edit` runs the model on the
centred square of its input. For a portrait where the face is small (such as
``examples/astronaut.png``) it works best on a square around the face. Because every pixel where
the attention mask is 0 comes back bit-for-bit, pasting the edited crop into the photo is
seamless.

Usage (from the repository root)::

    python examples/edit_photo.py                                # astronaut, eyeglasses
    python examples/edit_photo.py --attr smiling --value remove
    python examples/edit_photo.py my.jpg --box 100,40,300,240 --weights path/to/model-folder
    python examples/edit_photo.py --untrained                    # random weights: a pipeline check

Writes ``<stem>_<attr>.png`` (the whole photo, edited) and ``<stem>_<attr>_mask.png`` (the
attention mask in the photo's frame) into ``--out-dir`` (default: the current folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from sagan_edit import SaGAN, SaGANConfig, SaGANError
from sagan_edit.attributes import attribute_slug
from sagan_edit.fileio import atomic_path

HERE = Path(__file__).resolve().parent
ASTRONAUT = HERE / "astronaut.png"
#: A square around Eileen Collins' head in the 512x512 portrait, framed like a CelebA-HQ crop.
ASTRONAUT_FACE_BOX = (144, 26, 304, 186)


def parse_box(text: str) -> tuple[int, int, int, int]:
    """Parse ``left,top,right,bottom`` pixel coordinates."""
    try:
        left, top, right, bottom = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected left,top,right,bottom, got {text!r}") from None
    if right <= left or bottom <= top:
        raise argparse.ArgumentTypeError(f"empty box {text!r}")
    return left, top, right, bottom


def default_box(path: Path, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The astronaut's face square for the bundled photo, else the photo's centred square."""
    if path.resolve() == ASTRONAUT:
        return ASTRONAUT_FACE_BOX
    width, height = size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def edit_face(
    model: SaGAN,
    photo: Image.Image,
    box: tuple[int, int, int, int],
    value: str,
    strength: float,
) -> tuple[Image.Image, Image.Image]:
    """Edit the face inside ``box`` and return the whole photo and the mask in its frame."""
    result = model.edit(photo.crop(box), value, strength=strength)
    edited = photo.copy()
    edited.paste(result.image, box[:2])
    mask = Image.new("L", photo.size, 0)
    mask.paste(result.mask, box[:2])
    return edited, mask


def main(argv: list[str] | None = None) -> int:
    """Run the example; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", type=Path, default=ASTRONAUT)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--attr", default="eyeglasses", help="alias of a published model")
    group.add_argument("--weights", help="a local model folder or a Hub repo id")
    parser.add_argument("--value", choices=("add", "remove"), default="add")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument(
        "--box",
        type=parse_box,
        help="face square as left,top,right,bottom (default: the astronaut's face, "
        "or the photo's centred square for other photos)",
    )
    parser.add_argument("--out-dir", type=Path, default=Path("."))
    parser.add_argument(
        "--untrained",
        action="store_true",
        help="random weights for --attr: checks the pipeline, edits nothing useful",
    )
    args = parser.parse_args(argv)

    try:
        if args.untrained:
            model = SaGAN(SaGANConfig(attribute=args.attr))
        else:
            model = SaGAN.from_pretrained(args.weights or args.attr)
        with Image.open(args.photo) as image:
            photo = image.convert("RGB")
        box = args.box or default_box(args.photo, photo.size)
        if box[2] > photo.width or box[3] > photo.height or min(box) < 0:
            raise ValueError(f"box {box} does not fit in the {photo.width}x{photo.height} photo")
        edited, mask = edit_face(model, photo, box, args.value, args.strength)
    except (SaGANError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    suffix = attribute_slug(model.attribute) + ("_removed" if args.value == "remove" else "")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for image, name in ((edited, f"{args.photo.stem}_{suffix}.png"),
                        (mask, f"{args.photo.stem}_{suffix}_mask.png")):  # fmt: skip
        with atomic_path(args.out_dir / name) as tmp:
            image.save(tmp, format="PNG")
        print(args.out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

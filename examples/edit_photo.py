"""Edit the faces of a photo: found and aligned, or inside a square box you give.

By default this edits ``examples/astronaut.png`` with the small CPU-trained eyeglasses model
embedded in the package (the ``eyeglasses`` alias). With the ``align`` extra installed
(``pip install "sagan-edit[align]"``) every face is found, aligned to the model's training crop,
edited and pasted back; without it, pass ``--box`` — a square around the head, framed like the
training crops. Every pixel where the attention mask is 0 comes back bit-for-bit, at the
photo's full resolution.

Usage (from the repository root)::

    python examples/edit_photo.py                                   # astronaut, add eyeglasses
    python examples/edit_photo.py photo.jpg --remove
    python examples/edit_photo.py --box 144,26,304,186              # no detector needed
    python examples/edit_photo.py photo.jpg --weights user/sagan-smiling

The same from the command line::

    sagan-edit examples/astronaut.png --attr eyeglasses
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sagan_edit import SaGAN, SaGANError

HERE = Path(__file__).resolve().parent
PHOTO = HERE / "astronaut.png"
WEIGHTS = "eyeglasses"  # the model embedded in the package


def main(argv: list[str]) -> int:
    """Edit one photo; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=str(PHOTO), help="default: the astronaut")
    parser.add_argument("--weights", default=WEIGHTS, help="alias, model folder or Hub repo id")
    parser.add_argument("--remove", action="store_true", help="remove the attribute")
    parser.add_argument("--box", help="L,T,R,B: a square face region instead of detection")
    args = parser.parse_args(argv)
    box = tuple(int(v) for v in args.box.split(",")) if args.box else None
    try:
        model = SaGAN.from_pretrained(args.weights)
        result = model.edit(args.photo, value=not args.remove, box=box)
    except SaGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stem = Path(args.photo).stem
    result.image.save(f"{stem}_edited.png")
    result.mask.save(f"{stem}_mask.png")
    where = f"{len(result.faces)} face(s) aligned" if result.aligned else "one face region"
    print(f"edited {where}; wrote {stem}_edited.png and {stem}_mask.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

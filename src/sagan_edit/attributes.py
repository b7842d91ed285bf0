"""CelebA's 40 face attributes and the resolution of user-typed attribute names."""

from __future__ import annotations

import re

from .errors import UnknownAttributeError

#: CelebA's 40 binary attributes, in the order of ``list_attr_celeba.txt``.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

#: The four attributes edited in the paper (Section 4.1).
PAPER_ATTRIBUTES: tuple[str, ...] = ("eyeglasses", "mouth_slightly_open", "smiling", "no_beard")


def _key(name: str) -> str:
    """Fold case and separators, so `Mouth-Slightly Open` and `mouth_slightly_open` match."""
    return re.sub(r"[\s_\-]+", "_", name.strip()).lower()


_BY_KEY = {_key(name): name for name in CELEBA_ATTRIBUTES}


def canonical_attribute(name: str, choices: tuple[str, ...] | list[str] | None = None) -> str:
    """Return the canonical spelling of ``name`` among ``choices`` (CelebA's 40 by default).

    Matching ignores case and treats spaces, hyphens and underscores alike.
    Raises `UnknownAttributeError` listing the valid names when nothing matches.
    """
    table = _BY_KEY if choices is None else {_key(c): c for c in choices}
    found = table.get(_key(name))
    if found is None:
        valid = ", ".join(sorted(table.values(), key=str.lower))
        raise UnknownAttributeError(f"unknown attribute {name!r}; valid names: {valid}")
    return found


def attribute_slug(name: str) -> str:
    """Return the lower-case snake form of a name (``Eyeglasses`` -> ``eyeglasses``)."""
    return _key(name)

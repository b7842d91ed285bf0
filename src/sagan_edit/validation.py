"""Checks of `SaGAN.edit`'s arguments, each failing with one message in Python terms."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import NoReturn

import numpy as np

from .errors import InvalidArgumentError

__all__ = [
    "check_align",
    "check_batch_size",
    "check_detector",
    "check_faces",
    "check_min_face_size",
    "check_strength",
    "parse_value",
]


def _invalid(message: str) -> NoReturn:
    """Raise the error of a bad argument (`InvalidArgumentError`, a `ValueError`)."""
    raise InvalidArgumentError(message)


def _shown(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_int(value: object) -> bool:
    """An integer that is not a bool (``True`` is an ``int`` to Python, not to a user)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def parse_value(value: object) -> float:
    """Return the target attribute value, 1.0 (add) or 0.0 (remove).

    Accepts True/False, 1/0 and the words add/with/true/1 and remove/without/false/0.

    Raises:
        ValueError: anything else.
    """
    if isinstance(value, str):
        words = {"add": 1.0, "with": 1.0, "true": 1.0, "1": 1.0,
                 "remove": 0.0, "without": 0.0, "false": 0.0, "0": 0.0}  # fmt: skip
        if value.strip().lower() not in words:
            _invalid(f"value must be add/remove (or True/False), got {value!r}")
        return words[value.strip().lower()]
    if isinstance(value, (bool, np.bool_, numbers.Real)) and float(value) in (0.0, 1.0):
        return float(value)
    return _invalid(
        f"value must be True/1 (add the attribute) or False/0 (remove), got {_shown(value)}"
    )


def check_strength(strength: object) -> float:
    """Return ``strength`` as a float in [0, 1].

    Raises:
        ValueError: not a real number (a string, a bool, None), not finite, or out of [0, 1].
    """
    if not isinstance(strength, numbers.Real) or isinstance(strength, (bool, np.bool_)):
        _invalid(f"strength must be a number in [0, 1], got {_shown(strength)}")
    number = float(strength)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        _invalid(f"strength must be within [0, 1], got {strength}")
    return number


def check_align(align: object) -> bool | None:
    """Return ``align`` (True, False or None).

    Raises:
        ValueError: any other value (a string such as ``"no"`` would otherwise count as True).
    """
    if align is None or isinstance(align, bool):
        return align
    if isinstance(align, np.bool_):
        return bool(align)
    return _invalid(f"align must be True, False or None, got {_shown(align)}")


def check_faces(faces: object) -> list[int] | None:
    """Return the face numbers asked for, sorted and without repeats, or None (every face).

    Raises:
        ValueError: not None nor a non-empty sequence of integers >= 0.
    """
    if faces is None:
        return None
    if isinstance(faces, (str, bytes)) or not isinstance(faces, (Sequence, np.ndarray, range)):
        _invalid(f"faces must be a list of face numbers (0 = leftmost), got {_shown(faces)}")
    wanted = list(faces)
    if not wanted:
        _invalid("faces=[] names no face: pass face numbers (0 = leftmost), or None for every face")
    if not all(_is_int(n) and n >= 0 for n in wanted):
        _invalid(f"faces must hold integers >= 0 (0 = leftmost face), got {list(faces)!r}")
    return sorted({int(n) for n in wanted})


def check_min_face_size(min_face_size: object) -> int:
    """Return ``min_face_size`` as an int >= 1.

    Raises:
        ValueError: not an integer (a float, a bool, a string) or less than 1.
    """
    if not _is_int(min_face_size) or min_face_size < 1:  # type: ignore[operator]
        _invalid(f"min_face_size must be an integer >= 1 (pixels), got {_shown(min_face_size)}")
    return int(min_face_size)  # type: ignore[call-overload]


def check_batch_size(batch_size: object) -> int:
    """Return ``batch_size`` as an int >= 1.

    Raises:
        ValueError: not an integer >= 1.
    """
    if not _is_int(batch_size) or batch_size < 1:  # type: ignore[operator]
        _invalid(f"batch_size must be an integer >= 1, got {_shown(batch_size)}")
    return int(batch_size)  # type: ignore[call-overload]


def check_detector(detector: object) -> None:
    """Check that ``detector`` is None or has a ``detect(rgb, min_face_size=...)`` method.

    Raises:
        ValueError: it has no callable ``detect``.
    """
    if detector is not None and not callable(getattr(detector, "detect", None)):
        _invalid(
            "detector must have a detect(rgb, *, min_face_size) method returning faces, "
            f"got {_shown(detector)}"
        )

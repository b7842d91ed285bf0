"""`SaGANConfig`: everything needed to rebuild a model, stored as ``config.json``."""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .attributes import canonical_attribute
from .errors import InvalidWeightsError
from .fileio import atomic_write_bytes
from .networks import ATTRIBUTE_INPUTS, GENERATOR_VARIANTS, RESIDUAL_NORMS

if TYPE_CHECKING:
    from typing_extensions import Self

MODEL_TYPE = "sagan"
CONFIG_NAME = "config.json"
SUPPORTED_IMAGE_SIZES_HINT = "a multiple of 8 (the paper uses 128; 64 and 256 work too)"


class JsonConfig:
    """Base of the model configs: a dataclass stored as ``config.json``, tagged ``model_type``."""

    model_type: ClassVar[str]
    kind: ClassVar[str]
    """What the config describes, for messages (``"SaGAN model"``)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict, tagged with ``model_type``."""
        fields = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {"model_type": self.model_type, **fields}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build a config from `to_dict` output; unknown keys are an error, not silently dropped."""
        data = dict(data)
        model_type = data.pop("model_type", None)
        if model_type != cls.model_type:
            raise InvalidWeightsError(
                f"not a sagan-edit {cls.kind} config: model_type is {model_type!r}, "
                f"expected {cls.model_type!r}"
            )
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidWeightsError(f"config has unknown keys {unknown}; upgrade sagan-edit?")
        try:
            cls.check_types(data)
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise InvalidWeightsError(f"invalid config: {exc}") from None

    @classmethod
    def check_types(cls, values: dict[str, Any]) -> None:
        """Check each given field value against the field's annotated type.

        ``bool`` is not an integer here (``true`` is no channel count), an integer is a valid
        ``float``, tuples and numpy arrays pass for lists, and numpy scalars for Python numbers.

        Args:
            values: field names and values (names that are not fields are skipped).

        Raises:
            TypeError: one line naming the first bad field, its value and the type expected.
        """
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            if item.name in values:
                problem = _type_problem(values[item.name], hints[item.name], item.name)
                if problem:
                    raise TypeError(problem)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` into ``folder`` atomically and return its path."""
        return write_json(Path(folder) / CONFIG_NAME, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a ``config.json`` file (or the one inside a folder)."""
        path, data = read_json_object(path, CONFIG_NAME, InvalidWeightsError)
        try:
            return cls.from_dict(data)
        except InvalidWeightsError as exc:
            raise InvalidWeightsError(f"{path}: {exc}") from None


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` to ``path`` as indented JSON, atomically, and return ``path``."""
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return path


def read_json_object(
    path: str | os.PathLike[str], name: str, error: type[Exception], hint: str = ""
) -> tuple[Path, dict[str, Any]]:
    """Read the JSON object in the file ``path``, or in the file ``name`` of the folder ``path``.

    Args:
        path: The file, or the folder that holds it.
        name: The file's name in a folder.
        error: The exception raised when the file cannot be used.
        hint: Appended to the message of a missing file, e.g. ``" (not a training run?)"``.

    Returns:
        The file read and the object it holds.

    Raises:
        error: One line: there is no such file, or it cannot be read, is not valid JSON or holds
            no JSON object.
    """
    path = Path(path)
    if path.is_dir():
        path = path / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such file{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise error(f"{path} does not hold a JSON object")
    return path, data


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_SIMPLE_TYPES: dict[Any, tuple[str, Any]] = {
    int: ("an integer", _is_int),
    float: ("a number", _is_real),
    str: ("a string", lambda value: isinstance(value, str)),
    bool: ("true or false", lambda value: isinstance(value, bool)),
    type(None): ("None (null)", lambda value: value is None),
}


def _describe(hint: Any) -> str:
    """Name an annotated type for a message (``int | None`` -> ``an integer or None (null)``)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin in (list, tuple):
        return "a list"
    if origin is dict or hint is dict:
        return "an object (dict)"
    return _SIMPLE_TYPES[hint][0] if hint in _SIMPLE_TYPES else str(hint)


def _type_problem(value: Any, hint: Any, path: str) -> str | None:
    """Say what is wrong with ``value`` for annotation ``hint`` (None when nothing is)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(value, arg, path) for arg in args]
        if any(problem is None for problem in problems):
            return None
        nested = [p for p in problems if p and not p.startswith(f"{path} must be ")]
        return nested[0] if nested else _wrong(path, hint, value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple, np.ndarray)):
            return _wrong(path, hint, value)
        for index, item in enumerate(value):
            problem = _type_problem(item, args[0], f"{path}[{index}]") if args else None
            if problem:
                return problem
        return None
    if origin is dict or hint is dict:
        ok = isinstance(value, dict) and all(isinstance(key, str) for key in value)
        return None if ok else _wrong(path, hint, value)
    if hint in _SIMPLE_TYPES:
        return None if _SIMPLE_TYPES[hint][1](value) else _wrong(path, hint, value)
    return None  # a type this check does not know: left to the config's own checks


def _wrong(path: str, hint: Any, value: Any) -> str:
    return f"{path} must be {_describe(hint)}, got {value!r} ({type(value).__name__})"


_INT_FIELDS = (
    "image_size", "base_channels", "num_residual_blocks", "disc_base_channels", "disc_layers"
)  # fmt: skip


@dataclass
class SaGANConfig(JsonConfig):
    """Hyper-parameters of one SaGAN model (one attribute), serialisable to ``config.json``.

    Args:
        attribute: CelebA attribute the model edits, canonical spelling (``"Eyeglasses"``).
            Any spelling is accepted and normalised (``"eyeglasses"`` -> ``"Eyeglasses"``).
        image_size: side of the square images the networks run at (paper: 128).
        base_channels: channels of the generator's first layer (paper: 32, Table 1).
        num_residual_blocks: residual blocks between encoder and decoder (paper: 4).
        disc_base_channels: channels of the discriminator's first layer (paper: 32, Table 2).
        disc_layers: stride-2 convolutions in the discriminator (paper: 6).
        variant: generator output rule: ``"attention"`` is SaGAN's Eq. (7); ``"none"`` (a
            whole-image generator) and ``"residual"`` (ResGAN's residual image) are the paper's
            baselines (`sagan_edit.networks.Generator`).
        residual_norm: normalisation in the generator's residual blocks, ``"instance"`` or
            ``"batch"`` (the paper does not say; the training guide compares them).
        attribute_input: how AMN's first layer takes the attribute: ``"after_norm"``
            (`sagan_edit.networks.AttributeInput`) or ``"concat"`` (Table 1 literally).
        disc_leaky_slope: negative slope of the discriminator's LeakyReLUs (StarGAN's 0.01;
            PatchGAN's 0.2).
        face_template: where the eye centres and the nose sit in the training crops, as
            ``[[x, y], [x, y], [x, y]]`` fractions of the side (`sagan_edit.align`); photos are
            aligned to it. ``None``: CelebA-HQ's (`sagan_edit.align.CELEBAHQ_TEMPLATE`).
        extra: free-form metadata kept with the model (training settings, provenance).

    Raises:
        TypeError: a field has the wrong type (`JsonConfig.check_types`: ``16.0`` or ``true``
            for an integer, ``5`` for the attribute, ``"64"`` for the image size).
        ValueError: a value is out of range; UnknownAttributeError for an unknown attribute.
    """

    model_type: ClassVar[str] = MODEL_TYPE
    kind: ClassVar[str] = "SaGAN model"

    attribute: str
    image_size: int = 128
    base_channels: int = 32
    num_residual_blocks: int = 4
    disc_base_channels: int = 32
    disc_layers: int = 6
    variant: str = "attention"
    residual_norm: str = "instance"
    attribute_input: str = "after_norm"
    disc_leaky_slope: float = 0.01
    face_template: list[list[float]] | None = None  # any (3, 2) sequence; stored as lists
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check_types({item.name: getattr(self, item.name) for item in dataclasses.fields(self)})
        for name in _INT_FIELDS:  # numpy integers pass the check; JSON needs Python ints
            setattr(self, name, int(getattr(self, name)))
        self.attribute = canonical_attribute(self.attribute)
        if self.image_size < 8 or self.image_size % 8:  # the generator halves the size 3 times
            raise ValueError(f"image_size={self.image_size} must be {SUPPORTED_IMAGE_SIZES_HINT}")
        if self.base_channels < 1 or self.disc_base_channels < 1:
            raise ValueError("channel counts must be positive")
        if self.num_residual_blocks < 0:
            raise ValueError("num_residual_blocks must be >= 0")
        if not 1 <= self.disc_layers or self.image_size % (2**self.disc_layers):
            raise ValueError(
                f"disc_layers={self.disc_layers} must leave a whole feature map "
                f"(image_size / 2**disc_layers) for image_size={self.image_size}"
            )
        if self.face_template is not None:
            points = [[float(v) for v in point] for point in self.face_template]
            if len(points) != 3 or any(
                len(p) != 2 or not 0 <= min(p) <= max(p) <= 1 for p in points
            ):
                raise ValueError(
                    "face_template must be 3 [x, y] points (eyes, nose) as fractions in [0, 1]"
                )
            self.face_template = points
        if self.variant not in GENERATOR_VARIANTS:
            raise ValueError(f"variant must be one of {GENERATOR_VARIANTS}, got {self.variant!r}")
        if self.residual_norm not in RESIDUAL_NORMS:
            raise ValueError(
                f"residual_norm must be one of {RESIDUAL_NORMS}, got {self.residual_norm!r}"
            )
        if self.attribute_input not in ATTRIBUTE_INPUTS:
            raise ValueError(
                f"attribute_input must be one of {ATTRIBUTE_INPUTS}, got {self.attribute_input!r}"
            )
        if not 0 <= self.disc_leaky_slope < 1:
            raise ValueError(f"disc_leaky_slope must be in [0, 1), got {self.disc_leaky_slope}")

"""Exceptions raised by sagan-edit; each message is one line that says what to do."""

from __future__ import annotations

__all__ = [
    "AlignmentUnavailableError",
    "DatasetError",
    "DemoUnavailableError",
    "EvaluationError",
    "ImageLoadError",
    "InvalidArgumentError",
    "InvalidBoxError",
    "InvalidWeightsError",
    "NoFaceFoundError",
    "NonFiniteLossError",
    "SaGANError",
    "TrainingError",
    "UnknownAttributeError",
    "WeightsNotFoundError",
    "first_line",
]


class SaGANError(Exception):
    """Base class of every error sagan-edit raises on purpose (the CLI prints it as one line)."""


class UnknownAttributeError(SaGANError, ValueError):
    """An attribute name that is not among the valid ones."""


class WeightsNotFoundError(SaGANError, FileNotFoundError):
    """Weights could not be found locally, in the cache, or on the Hub."""


class InvalidWeightsError(SaGANError, ValueError):
    """A weights folder exists but its config or tensors are wrong, corrupt or incomplete."""


class ImageLoadError(SaGANError, ValueError):
    """An input could not be read or understood as an image."""


class InvalidBoxError(SaGANError, ValueError):
    """A face box that is not a square inside the image."""


class AlignmentUnavailableError(SaGANError, ImportError):
    """Face detection was needed but the ``align`` extra is not installed."""


class NoFaceFoundError(SaGANError):
    """The detector found no face (of at least the minimum size) in a photo."""


class DatasetError(SaGANError, ValueError):
    """A data folder, label file or split that cannot be used as asked (the message says why)."""


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message, or its class name when it has none.

    Args:
        exc: Any exception, typically one raised by a library sagan-edit calls.

    Returns:
        The first line of the stripped message, to quote ``exc`` in a one-line error.
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class InvalidArgumentError(SaGANError, ValueError):
    """An argument of the Python API with the wrong type or value (e.g. ``strength="0.5"``)."""


class EvaluationError(SaGANError, ValueError):
    """An evaluation cannot run as asked (no images, a bad Inception file)."""


class TrainingError(SaGANError):
    """A training run cannot start or continue (bad checkpoint, mismatched settings)."""


class NonFiniteLossError(TrainingError, FloatingPointError):
    """A loss became NaN or infinite; the run stopped without writing a checkpoint."""


class DemoUnavailableError(SaGANError, ImportError):
    """Gradio, which the web demo needs, is not installed."""

"""sagan-edit: face attribute editing with spatial attention (SaGAN, Zhang et al., ECCV 2018).

The names below are imported on first use (PEP 562), so ``import sagan_edit`` stays cheap: the
command line's ``--help`` does not load torch. ``from sagan_edit import SaGAN`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .attributes import CELEBA_ATTRIBUTES, PAPER_ATTRIBUTES
    from .classifier import AttributeClassifier
    from .config import SaGANConfig
    from .errors import (
        AlignmentUnavailableError,
        DatasetError,
        EvaluationError,
        ImageLoadError,
        InvalidArgumentError,
        InvalidBoxError,
        InvalidWeightsError,
        NoFaceFoundError,
        NonFiniteLossError,
        SaGANError,
        TrainingError,
        UnknownAttributeError,
        WeightsNotFoundError,
    )
    from .hub import PRETRAINED, list_models
    from .model import EditResult, SaGAN
    from .networks import Discriminator, Generator

#: Each public name and the submodule it comes from.
_EXPORTS: dict[str, str] = {
    "CELEBA_ATTRIBUTES": "attributes",
    "PAPER_ATTRIBUTES": "attributes",
    "AttributeClassifier": "classifier",
    "SaGANConfig": "config",
    "AlignmentUnavailableError": "errors",
    "DatasetError": "errors",
    "EvaluationError": "errors",
    "NonFiniteLossError": "errors",
    "TrainingError": "errors",
    "ImageLoadError": "errors",
    "InvalidArgumentError": "errors",
    "InvalidBoxError": "errors",
    "InvalidWeightsError": "errors",
    "NoFaceFoundError": "errors",
    "SaGANError": "errors",
    "UnknownAttributeError": "errors",
    "WeightsNotFoundError": "errors",
    "PRETRAINED": "hub",
    "list_models": "hub",
    "EditResult": "model",
    "SaGAN": "model",
    "Discriminator": "networks",
    "Generator": "networks",
}

__all__ = [
    "CELEBA_ATTRIBUTES",
    "AlignmentUnavailableError",
    "AttributeClassifier",
    "DatasetError",
    "EvaluationError",
    "PAPER_ATTRIBUTES",
    "PRETRAINED",
    "Discriminator",
    "EditResult",
    "Generator",
    "ImageLoadError",
    "InvalidArgumentError",
    "InvalidBoxError",
    "InvalidWeightsError",
    "NoFaceFoundError",
    "NonFiniteLossError",
    "SaGAN",
    "SaGANConfig",
    "SaGANError",
    "TrainingError",
    "UnknownAttributeError",
    "WeightsNotFoundError",
    "__version__",
    "list_models",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule on first access, then keep it here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

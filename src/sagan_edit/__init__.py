"""sagan-edit: face attribute editing with spatial attention (SaGAN, Zhang et al., ECCV 2018)."""

from .attributes import CELEBA_ATTRIBUTES, PAPER_ATTRIBUTES
from .classifier import AttributeClassifier
from .config import SaGANConfig
from .errors import (
    AlignmentUnavailableError,
    ImageLoadError,
    InvalidBoxError,
    InvalidWeightsError,
    NoFaceFoundError,
    SaGANError,
    UnknownAttributeError,
    WeightsNotFoundError,
)
from .hub import PRETRAINED
from .model import EditResult, SaGAN
from .networks import Discriminator, Generator

__version__ = "0.1.0"

__all__ = [
    "CELEBA_ATTRIBUTES",
    "AlignmentUnavailableError",
    "AttributeClassifier",
    "PAPER_ATTRIBUTES",
    "PRETRAINED",
    "Discriminator",
    "EditResult",
    "Generator",
    "ImageLoadError",
    "InvalidBoxError",
    "InvalidWeightsError",
    "NoFaceFoundError",
    "SaGAN",
    "SaGANConfig",
    "SaGANError",
    "UnknownAttributeError",
    "WeightsNotFoundError",
    "__version__",
]

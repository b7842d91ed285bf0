"""sagan-edit: face attribute editing with spatial attention (SaGAN, Zhang et al., ECCV 2018).

The public names are imported on first use (PEP 562), so ``import sagan_edit`` stays cheap: the
command line's ``--help`` does not load torch. ``from sagan_edit import SaGAN`` works as usual.
Only the exceptions are here at once: their module, `sagan_edit.errors`, imports nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .attributes import CELEBA_ATTRIBUTES, PAPER_ATTRIBUTES
    from .classifier import AttributeClassifier
    from .config import SaGANConfig
    from .editor import Editor, MultiEditResult, edit
    from .errors import *  # noqa: F403 - the exceptions, re-exported below
    from .hub import PRETRAINED, list_models
    from .model import EditResult, SaGAN
    from .networks import Discriminator, Generator
    from .toggle import ToggleDecision

#: Every exception of `sagan_edit.errors`, re-exported as they are (that module imports nothing).
_ERRORS = tuple(name for name in errors.__all__ if isinstance(getattr(errors, name), type))
globals().update((name, getattr(errors, name)) for name in _ERRORS)

#: Each other public name and the submodule it comes from.
_EXPORTS: dict[str, str] = {
    "CELEBA_ATTRIBUTES": "attributes",
    "PAPER_ATTRIBUTES": "attributes",
    "AttributeClassifier": "classifier",
    "SaGANConfig": "config",
    "Editor": "editor",
    "MultiEditResult": "editor",
    "edit": "editor",
    "PRETRAINED": "hub",
    "list_models": "hub",
    "EditResult": "model",
    "SaGAN": "model",
    "Discriminator": "networks",
    "Generator": "networks",
    "ToggleDecision": "toggle",
}

__all__ = [
    "CELEBA_ATTRIBUTES",
    "PAPER_ATTRIBUTES",
    "PRETRAINED",
    "AttributeClassifier",
    "Discriminator",
    "EditResult",
    "Editor",
    "Generator",
    "MultiEditResult",
    "SaGAN",
    "SaGANConfig",
    "ToggleDecision",
    "__version__",
    "edit",
    "list_models",
]
__all__ += _ERRORS


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

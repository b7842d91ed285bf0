"""``value="toggle"``: the shipped attribute classifier decides, face by face, what to do.

`SaGAN.edit` and `sagan_edit.editor.Editor.edit` accept ``value="toggle"``. For each face they
are about to edit, the aligned crop the model edits (at the model's resolution, in [-1, 1]) is
given to an `AttributeClassifier` (by default the one that ships with the package, which judges
all of CelebA's 40 attributes). A face whose probability of having the attribute is at least
`TOGGLE_THRESHOLD` has it removed; any other face has it added. Each decision is kept as a
`ToggleDecision` in the result's ``decisions``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .attributes import canonical_attribute
from .errors import InvalidArgumentError, UnknownAttributeError
from .validation import parse_value

if TYPE_CHECKING:
    from .classifier import AttributeClassifier

__all__ = [
    "TOGGLE",
    "TOGGLE_THRESHOLD",
    "ToggleDecision",
    "classifier_column",
    "decide",
    "is_toggle",
    "parse_edit_value",
    "shipped_classifier",
]

#: The ``value`` that asks the classifier to decide (any case, surrounding spaces ignored).
TOGGLE = "toggle"
#: A face whose classifier probability is at least this has the attribute (and loses it).
TOGGLE_THRESHOLD = 0.5


@dataclass(frozen=True)
class ToggleDecision:
    """What ``value="toggle"`` decided for one face and one attribute."""

    attribute: str
    """The attribute, canonical CelebA spelling (``"Eyeglasses"``)."""
    face: int
    """The face's position in the result's ``faces`` (0 for a box or an edited crop)."""
    probability: float
    """The classifier's probability that the face had the attribute, before this edit."""
    present: bool
    """Whether the classifier found the attribute (``probability >= TOGGLE_THRESHOLD``)."""

    @property
    def action(self) -> str:
        """``"remove"`` when the attribute was found, else ``"add"``: what was done."""
        return "remove" if self.present else "add"

    def __str__(self) -> str:
        found = "found" if self.present else "not found"
        done = "removed" if self.present else "added"
        return f"face {self.face}: {self.attribute} {found} (p={self.probability:.2f}), {done}"


def is_toggle(value: object) -> bool:
    """Whether ``value`` is ``"toggle"`` (any case)."""
    return isinstance(value, str) and value.strip().lower() == TOGGLE


def parse_edit_value(value: object) -> float | None:
    """Return the target value of an edit: 1.0 (add), 0.0 (remove) or None (toggle).

    Raises:
        ValueError: not add/remove/toggle, True/False or 1/0.
    """
    if is_toggle(value):
        return None
    try:
        return parse_value(value)
    except InvalidArgumentError as exc:
        message = str(exc).replace("add/remove", "add/remove/toggle", 1)
        raise InvalidArgumentError(message) from None


@functools.lru_cache(maxsize=4)
def shipped_classifier(device: str = "cpu") -> AttributeClassifier:
    """Load the classifier that ships with the package on ``device``, once per device."""
    from .classifier import AttributeClassifier

    return AttributeClassifier.from_pretrained(device=device)


def classifier_column(classifier: AttributeClassifier, attribute: str) -> int:
    """Return the classifier's output column for ``attribute``.

    Raises:
        UnknownAttributeError: the classifier does not judge this attribute.
    """
    try:
        return classifier.index(attribute)
    except UnknownAttributeError:
        raise UnknownAttributeError(
            f"value='toggle' for {canonical_attribute(attribute)}: the attribute classifier "
            f"does not judge it (it judges {len(classifier.attributes)} attributes); pass "
            "add or remove instead"
        ) from None


@torch.inference_mode()
def decide(
    classifier: AttributeClassifier,
    attribute: str,
    crops: torch.Tensor,
    faces: list[int],
    *,
    threshold: float = TOGGLE_THRESHOLD,
) -> tuple[list[float], list[ToggleDecision]]:
    """Decide, for each crop, whether to add or remove ``attribute``.

    Args:
        classifier: the judge (`shipped_classifier` by default in the editors).
        attribute: the attribute the crops are about to be edited for.
        crops: (N, 3, S, S) face crops in [-1, 1], as the model is about to edit them.
        faces: each crop's position in the result's ``faces``.
        threshold: probability from which a face counts as having the attribute.

    Returns:
        The target value of each crop (0.0 remove, 1.0 add) and the decisions.
    """
    column = classifier_column(classifier, attribute)
    probabilities = classifier.probabilities(crops.float())[:, column].tolist()
    name = classifier.attributes[column]
    decisions = [
        ToggleDecision(name, face, float(p), float(p) >= threshold)
        for face, p in zip(faces, probabilities, strict=True)
    ]
    return [0.0 if d.present else 1.0 for d in decisions], decisions

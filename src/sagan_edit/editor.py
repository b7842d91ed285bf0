"""`Editor`: several attributes in one call, one SaGAN model per attribute, applied in turn.

One SaGAN model edits one attribute, as in the paper. An `Editor` holds several and edits each
image once for all of them:

1. every face of the image is found once (one detector call per image, whatever the number of
   models) and aligned once for all the models that share a crop size and face template;
2. the models are applied in turn, in the order the edits are named: each model's crop is cut
   from the image as the previous models left it, edited, and its change to that crop (AMN's
   image minus the crop) is added back at full resolution through that model's attention mask
   (`sagan_edit.imaging`);
3. the result's ``mask`` is the union (the pixel-wise maximum) of the attributes' masks, and
   ``masks`` holds each attribute's own mask. Every pixel where ``mask`` is 0 is bit-for-bit
   the input.

An edit's value is ``"add"`` (``True``), ``"remove"`` (``False``) or ``"toggle"``: the shipped
attribute classifier decides, face by face, whether the attribute is there and flips it
(`sagan_edit.toggle`); the result's ``decisions`` say what it decided.

Examples:
    Add eyeglasses, and let the classifier decide whether to add or remove a smile:

    ```python
    from sagan_edit import Editor

    editor = Editor.from_pretrained(["eyeglasses", "smiling"])
    result = editor("photo.jpg", eyeglasses="add", smiling="toggle")
    result.image.save("out.png")
    result.masks["Smiling"].save("smile-mask.png")
    print(result.decisions)
    ```
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union

import numpy as np
import torch
from PIL import Image

from .align import AlignmentUnavailableError, Face, FaceDetector, get_detector, paste_edit
from .attributes import canonical_attribute
from .classifier import AttributeClassifier
from .errors import InvalidArgumentError, UnknownAttributeError
from .imaging import Box, ImageInput, SourceImage, load_images, to_output
from .model import EditResult, SaGAN, _EditPlan, check_where
from .toggle import ToggleDecision, classifier_column, decide, parse_edit_value, shipped_classifier
from .validation import (
    check_batch_size,
    check_strength,
)

__all__ = ["EditValue", "Editor", "MultiEditResult", "edit"]

EditValue = Union[bool, int, str]  # noqa: UP007
"""One attribute's edit: True/1/"add", False/0/"remove", or "toggle" (the classifier decides)."""


@dataclass
class MultiEditResult(EditResult):
    """One image edited for several attributes: an `EditResult` with each attribute's mask.

    ``mask`` is the union (pixel-wise maximum) of ``masks``; ``decisions`` lists what
    ``"toggle"`` decided for each (attribute, face), in the order the attributes were applied.
    """

    masks: dict[str, Image.Image] = field(default_factory=dict)
    """Each attribute's own mask (canonical name -> mode "L", input-sized), in the order applied."""
    values: dict[str, str] = field(default_factory=dict)
    """Each attribute's requested value (``"add"``, ``"remove"`` or ``"toggle"``), as applied."""


@dataclass
class _Step:
    """One attribute of an edit call: its model, target (None: toggle) and strength."""

    attribute: str
    model: SaGAN
    target: float | None
    strength: float

    @property
    def value(self) -> str:
        return "toggle" if self.target is None else ("add" if self.target else "remove")


class _DetectOnce:
    """Wraps a `FaceDetector` so that each image is searched once, however many models ask."""

    def __init__(self, inner: FaceDetector) -> None:
        self.inner = inner
        self.calls = 0
        self._seen: dict[tuple[int, int], tuple[np.ndarray, list[Face]]] = {}

    def detect(self, rgb: np.ndarray, *, min_face_size: int = 80) -> list[Face]:
        """Return the faces of ``rgb``, from the first call for this very array."""
        key = (id(rgb), min_face_size)
        hit = self._seen.get(key)
        if hit is None or hit[0] is not rgb:
            self.calls += 1
            hit = self._seen[key] = (rgb, list(self.inner.detect(rgb, min_face_size=min_face_size)))
        return list(hit[1])


class Editor:
    """Several SaGAN models, one per attribute, that edit each face in one pass.

    Args:
        models: the models, as a list (each keyed by its attribute) or a mapping whose keys
            name each model's attribute (any spelling: ``"no_beard"``, ``"No_Beard"``). Values
            may be `SaGAN` models or names `SaGAN.from_pretrained` takes (an alias, a local
            folder, a Hub repo id), loaded with ``load_kwargs``.
        classifier: the judge of ``value="toggle"`` (default: the shipped
            `AttributeClassifier`, loaded on first use).
        **load_kwargs: passed to `SaGAN.from_pretrained` for the models given by name
            (``device``, ``revision``, ``local_files_only``...).

    Raises:
        ValueError: no model, two models for one attribute, or a key that names another
            attribute than its model's.

    Examples:
        The embedded eyeglasses model and a smiling model of your own:

        ```python
        editor = Editor({"eyeglasses": "eyeglasses", "smiling": "./my-model"})
        editor("photo.jpg", eyeglasses=True, smiling=False).image.save("out.png")
        ```
    """

    def __init__(
        self,
        models: Mapping[str, SaGAN | str | os.PathLike[str]] | Iterable[SaGAN],
        *,
        classifier: AttributeClassifier | None = None,
        **load_kwargs: Any,
    ) -> None:
        pairs: list[tuple[str | None, Any]] = (
            list(models.items()) if isinstance(models, Mapping) else [(None, m) for m in models]
        )
        self._models: dict[str, SaGAN] = {}
        for key, model in pairs:
            if not isinstance(model, SaGAN):
                if key is None:
                    raise InvalidArgumentError(
                        f"Editor([...]) takes SaGAN models, got {type(model).__name__}; give "
                        "names as a mapping ({'smiling': 'smiling'}) or use Editor.from_pretrained"
                    )
                model = SaGAN.from_pretrained(model, **load_kwargs)
            if key is not None and canonical_attribute(key) != model.attribute:
                raise InvalidArgumentError(
                    f"Editor: key {key!r} holds a model for {model.attribute}; key each model "
                    "by the attribute it edits"
                )
            if model.attribute in self._models:
                raise InvalidArgumentError(
                    f"Editor: two models for {model.attribute}; give one model per attribute"
                )
            self._models[model.attribute] = model
        if not self._models:
            raise InvalidArgumentError("Editor needs at least one model")
        self.classifier = classifier

    @classmethod
    def from_pretrained(
        cls,
        names: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        classifier: AttributeClassifier | None = None,
        **load_kwargs: Any,
    ) -> Editor:
        """Load one model per name (`SaGAN.from_pretrained`: aliases, folders, Hub repo ids).

        ``load_kwargs`` (``device``, ``dtype``, ``revision``, ``local_files_only``, ``token``,
        ``cache_dir``, ``compile``) apply to every model. Each model is keyed by the attribute
        its config names.
        """
        if isinstance(names, (str, os.PathLike)):
            names = [names]
        return cls([SaGAN.from_pretrained(n, **load_kwargs) for n in names], classifier=classifier)

    @property
    def attributes(self) -> list[str]:
        """The attributes this editor can edit, canonical spelling, in the order given."""
        return list(self._models)

    def __getitem__(self, attribute: str) -> SaGAN:
        """The model for ``attribute`` (any spelling)."""
        return self._models[self._attribute(attribute)]

    def __contains__(self, attribute: object) -> bool:
        try:
            return isinstance(attribute, str) and bool(self._attribute(attribute))
        except UnknownAttributeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"Editor({', '.join(self._models)})"

    def to(self, device: str | torch.device) -> Editor:
        """Move every model to ``device``; returns ``self``."""
        for model in self._models.values():
            model.to(device)
        return self

    def _attribute(self, name: str) -> str:
        try:
            return canonical_attribute(name, tuple(self._models))
        except UnknownAttributeError:
            held = ", ".join(self._models)
            raise UnknownAttributeError(
                f"this editor has no model for {name!r} (it holds: {held}); load one, e.g. "
                f"Editor.from_pretrained([..., {name!r}])"
            ) from None

    def _steps(
        self, edits: Mapping[str, EditValue], strength: float | Mapping[str, float]
    ) -> list[_Step]:
        """Resolve the named edits to models, targets and strengths, checking each."""
        if not edits:
            raise InvalidArgumentError(
                "name at least one attribute to edit, e.g. editor.edit(image, "
                f"{next(iter(self._models)).lower()}='add') (this editor holds: "
                f"{', '.join(self._models)})"
            )
        if isinstance(strength, Mapping):
            strengths = {self._attribute(k): check_strength(v) for k, v in strength.items()}
        else:
            strengths = dict.fromkeys(self._models, check_strength(strength))
        steps: list[_Step] = []
        for name, value in edits.items():
            attribute = self._attribute(name)
            if any(s.attribute == attribute for s in steps):
                raise InvalidArgumentError(f"{attribute} is named twice; give each attribute once")
            try:
                target = parse_edit_value(value)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(f"{attribute}: {exc}") from None
            steps.append(
                _Step(attribute, self._models[attribute], target, strengths.get(attribute, 1.0))
            )
        if any(s.target is None for s in steps):
            judge = self._judge()
            for s in steps:
                if s.target is None:
                    classifier_column(judge, s.attribute)
        return steps

    def _judge(self) -> AttributeClassifier:
        if self.classifier is None:
            device = next(iter(self._models.values())).device
            self.classifier = shipped_classifier(str(device))
        return self.classifier

    @torch.inference_mode()
    def edit(
        self,
        image: ImageInput | Sequence[ImageInput],
        edits: Mapping[str, EditValue] | None = None,
        /,
        *,
        strength: float | Mapping[str, float] = 1.0,
        box: Sequence[int] | None = None,
        align: bool | None = None,
        faces: Sequence[int] | None = None,
        min_face_size: int = 80,
        detector: FaceDetector | None = None,
        batch_size: int = 8,
        **values: EditValue,
    ) -> MultiEditResult | list[MultiEditResult]:
        """Edit one image or a batch for several attributes at once.

        Args:
            image: what `SaGAN.edit` takes: a path, bytes, PIL image, uint8 array, float tensor
                in [0, 1], or a list of these (or an (N, 3, H, W) tensor) for a batch.
            edits: ``{attribute: value}``; applied in this order, then those of ``values``.
            strength: in [0, 1], scales every attention mask; or ``{attribute: strength}``
                (attributes left out get 1.0).
            box: the square face region ``(left, top, right, bottom)`` to edit, as for
                `SaGAN.edit`; the same box for every image of a batch, and no face detection.
            align: ``True`` finds and aligns every face, ``False`` edits the image as an aligned
                face crop, ``None`` (default) decides per image, as for `SaGAN.edit`.
            faces: with alignment, the faces to edit, numbered from 0 left to right (default:
                all); a non-empty list of integers >= 0.
            min_face_size: with alignment, ignore faces narrower than this, in photo pixels
                (an integer >= 1).
            detector: with alignment, the `FaceDetector` to use (default: dlib's, shared); each
                image is searched once, whatever the number of attributes.
            batch_size: faces per forward pass of each model.
            **values: more edits as keywords: ``eyeglasses=True, smiling="toggle"``.

        Each value is True/1/"add" (give the face the attribute), False/0/"remove" (take it
        away) or "toggle" (the attribute classifier decides per face: `sagan_edit.toggle`).

        Returns:
            A `MultiEditResult` for a single image, a list of them for a batch.

        Raises:
            UnknownAttributeError: an attribute this editor holds no model for.
            ValueError: a bad value, strength or other argument (the message names it).
            NoFaceFoundError, AlignmentUnavailableError, ImageLoadError, InvalidBoxError: as
                for `SaGAN.edit`.
        """
        steps = self._steps({**(edits or {}), **values}, strength)
        region, how, wanted, min_face_size = check_where(box, align, faces, min_face_size, detector)
        batch_size = check_batch_size(batch_size)
        sources, batched = load_images(image)
        finder = _shared_detector(detector, region, how)
        outputs = [source.rgb.copy() for source in sources]
        masks: dict[str, list[np.ndarray]] = {}
        decisions: list[list[ToggleDecision]] = [[] for _ in sources]
        plans: dict[tuple[Any, ...], list[_EditPlan]] = {}
        first: list[_EditPlan] | None = None
        for step in steps:
            config = step.model.config
            key = (config.image_size, repr(config.face_template))
            if key not in plans:
                plans[key] = [
                    step.model._plan(s, region, how, wanted, min_face_size, finder) for s in sources
                ]
            if first is None:
                first = plans[key]
            masks[step.attribute] = self._apply(
                step, sources, outputs, plans[key], batch_size, decisions
            )
        assert first is not None
        return _results(sources, outputs, masks, first, decisions, steps, batched)

    __call__ = edit

    def _apply(
        self,
        step: _Step,
        sources: list[SourceImage],
        outputs: list[np.ndarray],
        plans: list[_EditPlan],
        batch_size: int,
        decisions: list[list[ToggleDecision]],
    ) -> list[np.ndarray]:
        """Run one model on every planned face of ``outputs`` (in place); return its masks."""
        model = step.model
        masks = [np.zeros(source.rgb.shape[:2], np.uint8) for source in sources]
        jobs = [(i, n, p) for i, plan in enumerate(plans) for n, p in enumerate(plan.placements)]
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            crops = torch.stack(
                [model._model_input(replace(sources[i], rgb=outputs[i]), p) for i, _, p in chunk]
            )
            if step.target is None:
                targets, decided = decide(
                    self._judge(), step.attribute, crops, [n for _, n, _ in chunk]
                )
                for (i, _, _), decision in zip(chunk, decided, strict=True):
                    decisions[i].append(decision)
            else:
                targets = [step.target] * len(chunk)
            target = torch.tensor(targets, device=model.device, dtype=model.dtype)
            output = model._generator_runner()(crops.to(model.device, model.dtype), target)
            for k, (i, _, place) in enumerate(chunk):
                # the change is measured against this model's own input: the image as the
                # previous models left it
                amn, mask = output.amn_image[k], output.mask[k]
                paste_edit(outputs[i], masks[i], place, amn, mask, step.strength, crop=crops[k])
        return masks


def _shared_detector(
    detector: FaceDetector | None, region: Box | None, align: bool | None
) -> FaceDetector | None:
    """The detector every model's plan uses: one search per image. None: no detector here."""
    if region is not None or align is False:
        return None
    if detector is None:
        try:
            detector = get_detector()
        except AlignmentUnavailableError:
            return None  # each plan then says what to install, or edits a crop as it is
    return _DetectOnce(detector)


def _results(
    sources: list[SourceImage],
    outputs: list[np.ndarray],
    masks: dict[str, list[np.ndarray]],
    plans: list[_EditPlan],
    decisions: list[list[ToggleDecision]],
    steps: list[_Step],
    batched: bool,
) -> MultiEditResult | list[MultiEditResult]:
    results = []
    for i, source in enumerate(sources):
        union = np.zeros(source.rgb.shape[:2], np.uint8)
        for per_image in masks.values():
            np.maximum(union, per_image[i], out=union)
        results.append(
            MultiEditResult(
                to_output(source, outputs[i]),
                Image.fromarray(union, "L"),
                source.name,
                faces=plans[i].faces,
                aligned=plans[i].aligned,
                decisions=decisions[i],
                masks={a: Image.fromarray(m[i], "L") for a, m in masks.items()},
                values={s.attribute: s.value for s in steps},
            )
        )
    return results if batched else results[0]


@functools.lru_cache(maxsize=8)
def _published_model(name: str, device: str) -> SaGAN:
    """Load a published model once per process (`edit`)."""
    return SaGAN.from_pretrained(name, device=device)


def edit(
    image: ImageInput | Sequence[ImageInput],
    edits: Mapping[str, EditValue] | None = None,
    /,
    *,
    device: str = "auto",
    **kwargs: Any,
) -> MultiEditResult | list[MultiEditResult]:
    """Edit several attributes with the published models: ``edit("a.jpg", eyeglasses=True)``.

    Each attribute named (in ``edits`` or as a keyword) loads its alias with
    `SaGAN.from_pretrained` once per process; the call is then `Editor.edit` (``strength``,
    ``box``, ``align``, ``faces``, ``min_face_size``, ``detector`` and ``batch_size`` are its
    options). For your own model folders, build an `Editor`.

    Raises:
        WeightsNotFoundError: an attribute whose model is neither embedded nor downloadable.
    """
    options = {"strength", "box", "align", "faces", "min_face_size", "detector", "batch_size"}
    named = {**(edits or {}), **{k: v for k, v in kwargs.items() if k not in options}}
    if not named:
        raise InvalidArgumentError("name at least one attribute, e.g. edit(image, eyeglasses=True)")
    models = {name: _published_model(_alias_name(name), device) for name in named}
    editor = Editor(models)
    return editor.edit(image, named, **{k: v for k, v in kwargs.items() if k in options})


def _alias_name(attribute: str) -> str:
    """The alias of an attribute name (``"Mouth_Slightly_Open"`` -> ``"mouth_slightly_open"``)."""
    return canonical_attribute(attribute).lower()

"""`SaGAN`: the inference API — build, load, save, publish and edit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .align import (
    CELEBAHQ_TEMPLATE,
    INSTALL_HINT,
    AlignmentUnavailableError,
    Face,
    FaceAlignment,
    FaceDetector,
    NoFaceFoundError,
    get_detector,
    is_aligned,
    paste_edit,
)
from .config import CONFIG_NAME, SaGANConfig
from .errors import InvalidArgumentError, InvalidWeightsError
from .hub import (
    WEIGHTS_NAME,
    load_weights_strictly,
    push_folder_to_hub,
    resolve_weights_folder,
    write_model_folder,
)
from .imaging import (
    Box,
    ImageInput,
    SourceImage,
    check_box,
    face_box,
    load_image,
    load_images,
    looks_like_crop,
    to_model_input,
    to_output,
)
from .inference import GeneratorRunner, InferenceSettings, choose_settings
from .model_card import render_model_card
from .networks import Generator, GeneratorOutput
from .toggle import ToggleDecision, is_toggle
from .validation import (
    check_align,
    check_batch_size,
    check_detector,
    check_faces,
    check_min_face_size,
    check_strength,
    parse_value,
)


@dataclass
class EditResult:
    """One edited image, the same size as its input."""

    image: Image.Image
    """The edited image (RGB, or RGBA when the input had alpha)."""
    mask: Image.Image
    """The attention mask actually applied (scaled by ``strength``), mode "L", input-sized."""
    source: str | None = None
    """The input's file name, when it was given as a path."""
    faces: list[Face] = field(default_factory=list)
    """The faces the detector found (those edited, when ``aligned``), left to right."""
    aligned: bool = False
    """Whether the faces were aligned and pasted back (else a box or the centred square)."""
    decisions: list[ToggleDecision] = field(default_factory=list)
    """With ``value="toggle"``: what the attribute classifier decided, face by face."""


@dataclass
class _EditPlan:
    """Where to edit one image: boxes or face alignments, and the faces found."""

    placements: list[Box | FaceAlignment]
    faces: list[Face] = field(default_factory=list)
    aligned: bool = False


@dataclass
class PreparedImage:
    """One image made ready for the generator (`SaGAN.prepare`): its faces cut out, not edited.

    `SaGAN.edit` is `SaGAN.prepare`, then `SaGAN.generate` on batches of ``crops`` (from one
    image or several), then `paste` for each face and `result`; the command line runs the same
    steps to batch the faces of many files.
    """

    source: SourceImage
    """The decoded input."""
    placements: list[Box | FaceAlignment]
    """Where each face lies: a square box, or the warp of an aligned face."""
    crops: list[torch.Tensor]
    """The generator's input for each face, (3, S, S) in [-1, 1], in the order of ``placements``."""
    faces: list[Face] = field(default_factory=list)
    """The faces the detector found (those to edit, when ``aligned``), left to right."""
    aligned: bool = False
    """Whether the faces are aligned and pasted back through their warp."""
    pixels: np.ndarray = field(init=False, repr=False)
    """The (H, W, 3) uint8 output being built: the input, then each face pasted in."""
    mask: np.ndarray = field(init=False, repr=False)
    """The (H, W) uint8 mask being built."""

    def __post_init__(self) -> None:
        self.pixels = self.source.rgb.copy()
        self.mask = np.zeros(self.source.rgb.shape[:2], np.uint8)

    def paste(
        self, index: int, amn_image: torch.Tensor, mask: torch.Tensor, strength: float = 1.0
    ) -> None:
        """Add face ``index``'s change (AMN's image minus its crop) through its mask, full size."""
        place, crop = self.placements[index], self.crops[index]
        paste_edit(self.pixels, self.mask, place, amn_image, mask, strength, crop=crop)

    def result(self) -> EditResult:
        """The edited image and its mask, once every face is pasted back."""
        return EditResult(
            to_output(self.source, self.pixels),
            Image.fromarray(self.mask, "L"),
            self.source.name,
            faces=self.faces,
            aligned=self.aligned,
        )


def check_where(
    box: object, align: object, faces: object, min_face_size: object, detector: object
) -> tuple[Box | None, bool | None, list[int] | None, int]:
    """Check `SaGAN.edit`'s arguments that say where to edit; return them normalised.

    Raises:
        InvalidBoxError: ``box`` is not 4 integers forming a square.
        ValueError: another argument has the wrong type or value, or ``box`` with ``align=True``.
    """
    region, how, wanted = check_box(box), check_align(align), check_faces(faces)
    min_face_size = check_min_face_size(min_face_size)
    check_detector(detector)
    if region is not None and how:
        raise InvalidArgumentError("pass either box= (a given face region) or align=True, not both")
    return region, how, wanted, min_face_size


def select_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` to CUDA, then Apple MPS, then CPU; pass anything else to torch."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available here; use 'cpu' or 'auto'")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device {device!r}: Apple MPS is not available here; use 'cpu' or 'auto'")
    return resolved


class SaGAN(nn.Module):
    """A SaGAN face-attribute editor for one attribute: a `Generator` plus its `SaGANConfig`.

    Examples:
        Load the model embedded for eyeglasses (offline) and add eyeglasses to a photo:

        ```python
        from sagan_edit import SaGAN

        model = SaGAN.from_pretrained("eyeglasses")
        result = model.edit("examples/astronaut.png", value=True)
        result.image.save("astronaut_eyeglasses.png")
        ```
    """

    def __init__(self, config: SaGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator.from_config(config)
        self._inference: tuple[str, bool] = ("auto", False)
        self._runner: GeneratorRunner | None = None
        self.eval()

    @property
    def attribute(self) -> str:
        """The CelebA attribute this model edits (canonical spelling, e.g. ``"Eyeglasses"``)."""
        return self.config.attribute

    @property
    def device(self) -> torch.device:
        """Device the weights live on."""
        return next(self.generator.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the weights."""
        return next(self.generator.parameters()).dtype

    def set_inference(self, dtype: str = "auto", compile: bool = False) -> SaGAN:
        """Choose how `edit` runs the generator (`sagan_edit.inference`); returns ``self``.

        Args:
            dtype: ``"auto"`` (bf16 autocast where the device computes it natively, else fp32),
                ``"fp32"`` or ``"bf16"``.
            compile: run the generator through ``torch.compile``: 1.6-1.7x faster at batch 16
                on a CPU once compiled, after 36-48 s of compilation; for long jobs.
        """
        choose_settings(self.device, dtype, compile)  # validates
        self._inference, self._runner = (dtype, compile), None
        return self

    @property
    def inference_settings(self) -> InferenceSettings:
        """How `edit` runs the generator on the current device (precision, layout, compile)."""
        return self._generator_runner().settings

    def _generator_runner(self) -> GeneratorRunner:
        runner, device = self._runner, self.device
        if runner is None or runner.device != device:
            settings = choose_settings(device, *self._inference)
            if (
                self.dtype != torch.float32
            ):  # weights already cast by the caller: run them as they are
                settings = InferenceSettings(str(self.dtype), channels_last=False, compile=False)
            runner = self._runner = GeneratorRunner(self.generator, settings, device)
        return runner

    def forward(self, image: torch.Tensor, attribute: torch.Tensor | float) -> GeneratorOutput:
        """Run the generator on images in [-1, 1] (see `Generator.forward`)."""
        return self.generator(image, attribute)

    # ------------------------------------------------------------------ editing

    @torch.inference_mode()
    def edit(
        self,
        image: ImageInput | Sequence[ImageInput],
        value: bool | int | float | str = True,
        *,
        strength: float = 1.0,
        box: Sequence[int] | None = None,
        align: bool | None = None,
        faces: Sequence[int] | None = None,
        min_face_size: int = 80,
        detector: FaceDetector | None = None,
        batch_size: int = 8,
    ) -> EditResult | list[EditResult]:
        """Edit one image or a batch towards ``value`` of the model's attribute.

        Args:
            image: a path, encoded bytes, PIL image, HxWx3 uint8 array or float tensor (3, H, W) in
                [0, 1]; or a list of these, or an (N, 3, H, W) tensor, for a batch.
            value: target attribute value: True/1/"add" adds it, False/0/"remove" removes it;
                "toggle" lets the shipped attribute classifier decide face by face (adds it
                where it is not found, removes it where it is; ``result.decisions`` says which).
            strength: in [0, 1], scales the attention mask: 0 returns the input unchanged, 1 applies
                the model's full edit.
            box: the square face region ``(left, top, right, bottom)`` to edit, framed like the
                training crops (for CelebA-HQ models: the whole head, eyes a little above the
                middle); the same box is used for every image of a batch. Nothing outside the box
                changes. No face detection is done.
            align: ``True``: find every face (`sagan_edit.align`, needs the ``align`` extra),
                align each to the model's template, edit it and paste it back. ``False``: the
                image is an aligned face crop; edit its centred square. ``None`` (default):
                align, except for images that may be aligned face crops (`looks_like_crop`:
                near-square, width/height within 0.8-1.25, and no side over 4x the model's
                ``image_size``) in which the detector finds one face already in place, or no
                face at all. Without the ``align`` extra, such crop-like images are edited as
                crops and any other image raises `AlignmentUnavailableError`; with it, any other
                image without a face raises `NoFaceFoundError` (it is never edited blind).
            faces: with alignment, the faces to edit, numbered from 0 left to right (default:
                all); a non-empty list of integers >= 0.
            min_face_size: with alignment, ignore faces narrower than this, in photo pixels
                (an integer >= 1).
            detector: with alignment, the `FaceDetector` to use (default: dlib's, shared).
            batch_size: faces per forward pass.

        Returns:
            An `EditResult` for a single image, a list of them for a list or 4-D tensor.
            Every pixel where ``result.mask`` is 0 is bit-for-bit the input
            (see `sagan_edit.imaging` and `sagan_edit.align` for the paste-back).

        Raises:
            NoFaceFoundError: no face (of ``min_face_size``) was found in an image that is not
                crop-like (or ``align=True``), or ``faces`` numbers more faces than were found.
            AlignmentUnavailableError: an image needs alignment but the extra is not installed.
            ImageLoadError: an input cannot be read as an image (`sagan_edit.imaging`).
            InvalidBoxError: ``box`` is not 4 integers forming a square inside the image.
            ValueError: another argument has the wrong type or value (the message names it).
        """
        if is_toggle(value):  # the classifier decides per face: the editor's path
            from .editor import Editor

            return Editor([self]).edit(
                image, {self.attribute: value}, strength=strength, box=box, align=align,
                faces=faces, min_face_size=min_face_size, detector=detector,
                batch_size=batch_size,
            )  # fmt: skip
        target, strength = parse_value(value), check_strength(strength)
        region, how, wanted, min_face_size = check_where(box, align, faces, min_face_size, detector)
        batch_size = check_batch_size(batch_size)
        sources, batched = load_images(image)
        prepared = [
            self._prepared(s, self._plan(s, region, how, wanted, min_face_size, detector))
            for s in sources
        ]
        faces = [(item, k) for item in prepared for k in range(len(item.crops))]
        for start in range(0, len(faces), batch_size):
            chunk = faces[start : start + batch_size]
            output = self._generate([item.crops[k] for item, k in chunk], target)
            for j, (item, k) in enumerate(chunk):
                item.paste(k, output.amn_image[j], output.mask[j], strength)
        results = [item.result() for item in prepared]
        return results if batched else results[0]

    def _plan(
        self,
        source: SourceImage,
        box: Box | None,
        align: bool | None,
        faces: list[int] | None,
        min_face_size: int,
        detector: FaceDetector | None,
    ) -> _EditPlan:
        """Decide where in ``source`` to edit (`edit`'s ``box`` / ``align`` rules)."""
        width, height = source.size
        if box is not None or align is False:
            return _EditPlan([face_box(source, box)])
        crop_like = align is None and looks_like_crop(width, height, self.config.image_size)
        where = f"{source.name}: " if source.name else ""
        if detector is None:
            try:
                detector = get_detector()
            except AlignmentUnavailableError as exc:
                if crop_like:
                    return _EditPlan([face_box(source, None)])
                reason = (
                    "align=True asks for its faces to be found and aligned"
                    if align
                    else f"a {width}x{height} image that is not a small face crop needs its "
                    "faces found and aligned"
                )
                raise AlignmentUnavailableError(
                    f"{where}{reason}: {INSTALL_HINT} (or give the face's box=, or edit it as "
                    "an aligned face crop with align=False)"
                ) from exc
        found = detector.detect(source.rgb, min_face_size=min_face_size)
        template = self.config.face_template or CELEBAHQ_TEMPLATE
        if crop_like:
            square = face_box(source, None)
            side = square[2] - square[0]
            if not found or (
                len(found) == 1
                and is_aligned(found[0].landmarks, template, side, (square[0], square[1]))
            ):
                return _EditPlan([square], faces=found)
        if not found:
            raise NoFaceFoundError(
                f"{where}no face of at least {min_face_size} px found (lower min_face_size, "
                "give the face's box=, or edit the image as an aligned face crop: align=False)"
            )
        if faces is not None:
            if faces[-1] >= len(found):
                raise NoFaceFoundError(
                    f"{where}faces {faces} asked for, but {len(found)} found (numbered 0 to "
                    f"{len(found) - 1}, left to right)"
                )
            found = [found[n] for n in faces]
        size = self.config.image_size
        placements: list[Box | FaceAlignment] = [
            FaceAlignment.fit(face.landmarks, template, size) for face in found
        ]
        return _EditPlan(placements, faces=found, aligned=True)

    def _model_input(self, source: SourceImage, place: Box | FaceAlignment) -> torch.Tensor:
        if isinstance(place, FaceAlignment):
            return place.crop(source.rgb)
        return to_model_input(source, self.config.image_size, place)

    def prepare(
        self,
        image: ImageInput | SourceImage,
        *,
        box: Sequence[int] | None = None,
        align: bool | None = None,
        faces: Sequence[int] | None = None,
        min_face_size: int = 80,
        detector: FaceDetector | None = None,
    ) -> PreparedImage:
        """Decode one image, find and align its faces as `edit` does, and cut out their crops.

        The arguments are `edit`'s; so are the errors (`NoFaceFoundError`, `ImageLoadError`...).
        """
        region, how, wanted, min_face_size = check_where(box, align, faces, min_face_size, detector)
        if isinstance(image, SourceImage):
            source = image
        else:
            sources = load_image(image)
            if len(sources) != 1:
                raise ValueError(f"prepare takes one image, got a batch of {len(sources)}")
            source = sources[0]
        return self._prepared(
            source, self._plan(source, region, how, wanted, min_face_size, detector)
        )

    def _prepared(self, source: SourceImage, plan: _EditPlan) -> PreparedImage:
        crops = [self._model_input(source, place) for place in plan.placements]
        return PreparedImage(source, plan.placements, crops, plan.faces, plan.aligned)

    @torch.inference_mode()
    def generate(
        self,
        crops: Sequence[torch.Tensor],
        value: bool | int | float | str = True,
        *,
        batch_invariant: bool = False,
    ) -> GeneratorOutput:
        """Run the generator as `edit` does on face crops (`PreparedImage.crops`) in one batch.

        With ``batch_invariant=True``, eager on a CPU, each crop gets bit-for-bit what a batch
        of one gives it (slower at 64x64; `sagan_edit.inference`). Returns float32
        outputs on the CPU, one row per crop, ready for `PreparedImage.paste`.
        """
        return self._generate(crops, parse_value(value), batch_invariant)

    def _generate(
        self, crops: Sequence[torch.Tensor], target: float, batch_invariant: bool = False
    ) -> GeneratorOutput:
        batch = torch.stack(list(crops)).to(device=self.device, dtype=self.dtype)
        attribute = torch.tensor(target, device=self.device, dtype=self.dtype)
        output = self._generator_runner()(
            batch, attribute.expand(len(batch)), batch_invariant=batch_invariant
        )
        return GeneratorOutput(*(None if t is None else t.cpu() for t in output))

    # ------------------------------------------------------------------ saving and loading

    def save_pretrained(
        self,
        save_directory: str | os.PathLike[str],
        *,
        model_card: bool = True,
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` (the generator) and a ``README.md`` card.

        Files are written atomically; the folder is created if needed. Returns its path.
        """
        card = render_model_card(self.config) if model_card else None
        return write_model_folder(save_directory, self.config, self, card)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        compile: bool = False,
    ) -> SaGAN:
        """Load a model from an alias (`PRETRAINED`), a local folder or a Hub repo id.

        Args:
            name_or_path: ``"eyeglasses"``, ``"./my-model"`` or ``"user/repo"``.
            revision: Hub branch, tag or commit.
            cache_dir: Hub cache folder (default: huggingface_hub's).
            local_files_only: never touch the network; use the cache only.
            token: Hub token for private repos (default: huggingface_hub's login).
            device: ``"auto"`` (CUDA, then MPS, then CPU) or any torch device.
            dtype: how `edit` computes: ``"auto"`` (default: bf16 autocast where the device
                computes it natively, else fp32), ``"fp32"`` or ``"bf16"`` (see
                `set_inference`); or a torch dtype to cast the weights to (``torch.float32``
                means ``"fp32"``).
            compile: run the generator through ``torch.compile`` (`set_inference`).

        Raises:
            WeightsNotFoundError: nothing found; the message says what to do.
            InvalidWeightsError: the files are there but wrong (names the bad file or tensor).
        """
        folder = resolve_weights_folder(
            name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
        if not (folder / CONFIG_NAME).is_file():
            raise InvalidWeightsError(
                f"{folder} has no {CONFIG_NAME}; is it a sagan-edit model folder?"
            )
        config = SaGANConfig.load(folder / CONFIG_NAME)
        model = cls(config)
        model.load_weights(folder / WEIGHTS_NAME)
        weights_dtype = dtype if isinstance(dtype, torch.dtype) else torch.float32
        model = model.to(device=select_device(device), dtype=weights_dtype).eval()
        if dtype is None or isinstance(dtype, str):
            return model.set_inference(dtype or "auto", compile)
        return model.set_inference("fp32", compile)

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Load generator weights from a safetensors file, strictly.

        ``discriminator.*`` tensors (written by training checkpoints) are ignored; any other
        missing, unexpected or mis-shaped tensor raises `InvalidWeightsError` naming it.
        """
        load_weights_strictly(self, path, ignore_prefix="discriminator.")

    def push_to_hub(self, repo_id: str, *, model_card: bool = True, **hub_options: Any) -> str:
        """Save the model to a temporary folder, upload it to ``repo_id``; return the commit URL.

        Args:
            repo_id: the Hub repo, ``"user/name"`` (made, and its branch, when needed).
            model_card: write the ``README.md`` model card (`save_pretrained`).
            **hub_options: `sagan_edit.hub.push_folder_to_hub`'s keywords: ``token`` (default:
                huggingface_hub's login), ``private`` (for a new repo), ``revision`` (the
                branch; default ``main``) and ``commit_message``.
        """
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, model_card=model_card)
            return push_folder_to_hub(tmp, repo_id, **hub_options)

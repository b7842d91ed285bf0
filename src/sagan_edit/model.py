"""`SaGAN`: the inference API — build, load, save, publish and edit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torch import nn

from .config import CONFIG_NAME, SaGANConfig
from .errors import InvalidWeightsError
from .fileio import atomic_write_bytes
from .hub import (
    MODEL_CARD_NAME,
    WEIGHTS_NAME,
    push_folder_to_hub,
    resolve_weights_folder,
)
from .imaging import (
    Box,
    ImageInput,
    SourceImage,
    composite,
    face_box,
    load_image,
    to_model_input,
)
from .model_card import render_model_card
from .networks import Generator, GeneratorOutput


@dataclass
class EditResult:
    """One edited image, the same size as its input."""

    image: Image.Image
    """The edited image (RGB, or RGBA when the input had alpha)."""
    mask: Image.Image
    """The attention mask actually applied (scaled by ``strength``), mode "L", input-sized."""
    source: str | None = None
    """The input's file name, when it was given as a path."""


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
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from None


def _parse_value(value: bool | int | float | str) -> float:
    if isinstance(value, str):
        words = {"add": 1.0, "with": 1.0, "true": 1.0, "1": 1.0,
                 "remove": 0.0, "without": 0.0, "false": 0.0, "0": 0.0}  # fmt: skip
        if value.strip().lower() not in words:
            raise ValueError(f"value must be add/remove (or True/False), got {value!r}")
        return words[value.strip().lower()]
    number = float(value)
    if number not in (0.0, 1.0):
        raise ValueError(
            f"value must be True/1 (add the attribute) or False/0 (remove), got {value!r}"
        )
    return number


class SaGAN(nn.Module):
    """A SaGAN face-attribute editor for one attribute: a `Generator` plus its `SaGANConfig`.

    Example:
        >>> model = SaGAN.from_pretrained("eyeglasses")          # doctest: +SKIP
        >>> model.edit("face.jpg", value=True).image.save("out.png")  # doctest: +SKIP
    """

    def __init__(self, config: SaGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config.base_channels, config.num_residual_blocks)
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
        batch_size: int = 8,
    ) -> EditResult | list[EditResult]:
        """Edit one image or a batch towards ``value`` of the model's attribute.

        Args:
            image: a path, encoded bytes, PIL image, HxWx3 uint8 array or float tensor (3, H, W) in
                [0, 1]; or a list of these, or an (N, 3, H, W) tensor, for a batch.
            value: target attribute value: True/1/"add" adds it, False/0/"remove" removes it.
            strength: in [0, 1], scales the attention mask: 0 returns the input unchanged, 1 applies
                the model's full edit.
            box: the square face region ``(left, top, right, bottom)`` to edit, framed like the
                training crops (for CelebA-HQ models: the whole head, eyes a little above the
                middle); the same box is used for every image of a batch. Default: the centred
                square of each image. Nothing outside the box changes.
            batch_size: images per forward pass.

        Returns:
            An `EditResult` for a single image, a list of them for a list or 4-D tensor.
            Every pixel where ``result.mask`` is 0 is bit-for-bit the input
            (see `sagan_edit.imaging` for how the model crop is pasted back).
        """
        target = _parse_value(value)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be within [0, 1], got {strength}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        batched = isinstance(image, (list, tuple)) or (
            isinstance(image, torch.Tensor) and image.ndim == 4
        )
        inputs = list(image) if isinstance(image, (list, tuple)) else [image]
        sources: list[SourceImage] = [s for item in inputs for s in load_image(item)]
        boxes = [face_box(source, box) for source in sources]
        results = []
        for start in range(0, len(sources), batch_size):
            chunk = slice(start, start + batch_size)
            results += self._edit_batch(sources[chunk], boxes[chunk], target, strength)
        return results if batched else results[0]

    def _edit_batch(
        self, sources: list[SourceImage], boxes: list[Box], target: float, strength: float
    ) -> list[EditResult]:
        size = self.config.image_size
        batch = torch.stack(
            [to_model_input(s, size, b) for s, b in zip(sources, boxes, strict=True)]
        )
        batch = batch.to(device=self.device, dtype=self.dtype)
        attribute = torch.full((len(sources),), target, device=self.device, dtype=self.dtype)
        output = self.generator(batch, attribute)
        results = []
        for i, source in enumerate(sources):
            edited, mask = composite(
                source, boxes[i], output.amn_image[i], output.mask[i], strength
            )
            results.append(EditResult(edited, mask, source.name))
        return results

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
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder)
        tensors = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        metadata = {"format": "pt", "library": "sagan-edit"}
        atomic_write_bytes(folder / WEIGHTS_NAME, save_safetensors(tensors, metadata=metadata))
        if model_card:
            atomic_write_bytes(folder / MODEL_CARD_NAME, render_model_card(self.config).encode())
        return folder

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
        dtype: torch.dtype | None = None,
    ) -> SaGAN:
        """Load a model from an alias (`PRETRAINED`), a local folder or a Hub repo id.

        Args:
            name_or_path: ``"eyeglasses"``, ``"./my-model"`` or ``"user/repo"``.
            revision: Hub branch, tag or commit.
            cache_dir: Hub cache folder (default: huggingface_hub's).
            local_files_only: never touch the network; use the cache only.
            token: Hub token for private repos (default: huggingface_hub's login).
            device: ``"auto"`` (CUDA, then MPS, then CPU) or any torch device.
            dtype: weights type, e.g. ``torch.bfloat16``; default float32.

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
        return model.to(device=select_device(device), dtype=dtype or torch.float32).eval()

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Load generator weights from a safetensors file, strictly.

        ``discriminator.*`` tensors (written by training checkpoints) are ignored; any other
        missing, unexpected or mis-shaped tensor raises `InvalidWeightsError` naming it.
        """
        path = Path(path)
        if not path.is_file():
            raise InvalidWeightsError(f"{path} is missing: the folder holds no weights")
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise InvalidWeightsError(
                f"{path} is not a valid safetensors file (truncated or corrupt?): {exc}"
            ) from None
        tensors = {k: v for k, v in tensors.items() if not k.startswith("discriminator.")}
        expected = self.state_dict()
        missing = sorted(set(expected) - set(tensors))
        unexpected = sorted(set(tensors) - set(expected))
        if missing:
            raise InvalidWeightsError(
                f"{path} lacks {len(missing)} tensor(s) the model needs, e.g. {missing[0]!r} "
                f"(does it match config.json?)"
            )
        if unexpected:
            raise InvalidWeightsError(
                f"{path} has {len(unexpected)} tensor(s) the model does not use, "
                f"e.g. {unexpected[0]!r}"
            )
        for key, tensor in tensors.items():
            if tensor.shape != expected[key].shape:
                raise InvalidWeightsError(
                    f"{path}: tensor {key!r} has shape {tuple(tensor.shape)}, the model expects "
                    f"{tuple(expected[key].shape)} (does it match config.json?)"
                )
        self.load_state_dict(tensors, strict=True)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | bool | None = None,
        private: bool | None = None,
        revision: str | None = None,
        commit_message: str = "Upload SaGAN model",
        **save_kwargs: Any,
    ) -> str:
        """Save the model to a temporary folder, upload it to ``repo_id``; return the commit URL."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, **save_kwargs)
            return push_folder_to_hub(
                tmp,
                repo_id,
                token=token,
                private=private,
                revision=revision,
                commit_message=commit_message,
            )

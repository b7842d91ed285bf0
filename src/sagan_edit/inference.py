"""How the editing path runs the generator: precision, memory layout and compilation per device.

Each choice, where it is made, with its measured effect (``benchmarks/bench_inference.py``; on this
project's CPU, an AMD EPYC with AVX2 only, against a plain fp32 eager generator of Table 1):

* **bf16** (``dtype="auto"``): autocast to bf16 where the device multiplies it natively (CUDA
  sm80+, CPUs with AVX512_BF16 or AMX; `sagan_edit.hardware`). The weights stay float32, the blend
  with the float32 input image is computed in float32, and the outputs are float32; the test suite
  checks that the edit agrees with fp32 within one level of 255 on average inside the mask.
  Without native support bf16 is emulated and was measured 13.6x *slower* (training step), so
  ``auto`` never picks it there.
* **channels_last**: with bf16 only (oneDNN's bf16 convolutions want it). In fp32 on the AVX2 CPU it
  ran at 1.00-1.06x: not worth a second layout.
* **torch.compile** (``compile=True``): 1.44x at 64x64 and 1.53x at 128x128 (batch 16, fp32 on the
  AVX2 CPU), after a one-off compilation of 36-48 s. It pays only for long jobs (thousands of faces
  at 64 px, about a thousand at 128 px), so it is off unless asked. ``torch.jit.freeze`` was
  measured at 0.98-1.10x and is not used.
* InstanceNorm followed by ReLU is left to the compiler to fuse: norms are 10 % of the time.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .hardware import PRECISIONS, resolve_precision
from .networks import Generator, GeneratorOutput

DTYPES: tuple[str, ...] = PRECISIONS
"""Accepted ``dtype`` settings of the editing path: the training precisions' names."""


@dataclass(frozen=True)
class InferenceSettings:
    """How the generator runs: the precision in use, its memory layout, whether compiled."""

    precision: str
    """``"fp32"`` or ``"bf16"`` (autocast; the outputs are float32); for weights a caller cast
    to another dtype, that dtype's name (they then run as they are)."""
    channels_last: bool
    """Whether images and weights use the channels-last memory format."""
    compile: bool
    """Whether the generator runs through ``torch.compile``."""


def choose_settings(
    device: torch.device, dtype: str = "auto", compile: bool = False
) -> InferenceSettings:
    """Resolve ``dtype`` (``auto``: bf16 only where native) and the layout for ``device``."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not isinstance(compile, bool):
        raise ValueError(f"compile must be True or False, got {compile!r}")
    precision = resolve_precision(dtype, device)
    if precision == "bf16" and device.type not in ("cpu", "cuda"):
        raise ValueError(f"bf16 needs a CPU or CUDA device, not {device}")
    return InferenceSettings(precision, channels_last=precision == "bf16", compile=compile)


class GeneratorRunner:
    """Runs a `Generator` with `InferenceSettings`; outputs are always float32, contiguous."""

    def __init__(
        self, generator: Generator, settings: InferenceSettings, device: torch.device | None = None
    ) -> None:
        self.generator = generator
        self.settings = settings
        self.device = device
        """The device the settings were chosen for."""
        if settings.channels_last:
            generator.to(memory_format=torch.channels_last)
        self._forward: Any = torch.compile(generator) if settings.compile else generator

    def __call__(self, images: Tensor, attribute: Tensor) -> GeneratorOutput:
        """Compute ``G(images, attribute)`` the configured way."""
        device = images.device
        if self.settings.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        autocast: Any = nullcontext()
        if self.settings.precision == "bf16":
            autocast = torch.autocast(device.type, dtype=torch.bfloat16)
        with autocast:
            out = self._forward(images, attribute)
        return GeneratorOutput(*(_float32(t) for t in out))


def _float32(tensor: Tensor | None) -> Tensor | None:
    if tensor is None:
        return None
    return tensor.float().contiguous()

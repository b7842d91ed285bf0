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
  measured at 0.98-1.10x (fp32, AVX2) and, on bf16 weights, 0.98-1.37x of bf16 autocast
  (AVX512_BF16; most at 64 px, batch 1, where the generator takes 8-10 ms); it is not used.
* **InstanceNorm + ReLU fusion**: not done in eager mode. The norms are 7-10 % of the fp32 time
  (64x64; ReLU under 1 %); fusing each pair by hand (``var_mean``, then one ``addcmul`` and
  ``relu_``) ran at 0.74-0.88x, and compiling only the 21 pairs at 0.97-1.04x after 6-10 s of
  compilation (batch 1 and 16, two runs; ``benchmarks/bench_inference.py --fusion``).
  ``compile=True`` fuses them with everything else.
* **Batch-independent results** (``batch_invariant=True``, eager on a CPU, fp32 or bf16
  autocast; what the command line asks for): an image's edit is bit-for-bit the same whatever
  else is in its batch, so the command line batches faces across files and still writes the
  bytes ``--batch-size 1`` writes. PyTorch computes a convolution of one image with other kernels
  than a batch (its own for small single images, oneDNN for batches, whose thread split changes
  with the batch size), which changes the last bits; `OneImageConvolutions` runs the
  convolutions of a batch image by image (the other layers stay batched). Measured at batch 16
  against the plain batched path: fp32 on the AVX2 CPU 0.66-0.77x at 64x64 and 0.97-1.05x at
  128x128; bf16 on the AVX512_BF16 CPU 0.53x at 64x64 and 0.89x at 128x128, where the command
  line on 16 face crops still ran 1.18x (64 px) and 1.01x (128 px) as fast at ``--batch-size
  16`` as at 1 (``benchmarks/bench_cli.py``). `SaGAN.edit` keeps the plain batched path (its
  results are unchanged).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

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

    def __call__(
        self, images: Tensor, attribute: Tensor, *, batch_invariant: bool = False
    ) -> GeneratorOutput:
        """Compute ``G(images, attribute)`` the configured way.

        ``batch_invariant``: eager on a CPU (float32 or bf16 autocast), give each image exactly
        what a batch of one gives it (`OneImageConvolutions`); ignored elsewhere.
        """
        device = images.device
        if self.settings.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with ExitStack() as modes:
            if self.settings.precision == "bf16":
                modes.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
            eager = not self.settings.compile
            if batch_invariant and eager and device.type == "cpu" and len(images) > 1:
                modes.enter_context(OneImageConvolutions())
            out = self._forward(images, attribute)
        return GeneratorOutput(*(_float32(t) for t in out))


def _float32(tensor: Tensor | None) -> Tensor | None:
    if tensor is None:
        return None
    return tensor.float().contiguous()


class OneImageConvolutions(TorchFunctionMode):
    """Inside it, every 2-D convolution of a batch runs one image at a time.

    PyTorch computes a convolution of one image and of a batch with different kernels (oneDNN
    for batches, its own for small single images; oneDNN's thread split changes with the batch),
    so an image's float32 result depends, in its last bits, on the batch it runs in. With the
    convolutions run image by image and every other layer batch-independent, a batch gives
    each image exactly what a batch of one gives it. The generator's other layers stay batched.
    """

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Split a batched ``conv2d`` / ``conv_transpose2d`` into one call per image."""
        kwargs = kwargs or {}
        if func in _CONVOLUTIONS and args and isinstance(args[0], Tensor) and args[0].dim() == 4:
            images = args[0]
            if len(images) > 1:
                return torch.cat([func(image[None], *args[1:], **kwargs) for image in images])
        return func(*args, **kwargs)


_CONVOLUTIONS = (torch.conv2d, torch.conv_transpose2d)

"""A plain fp32 eager SaGAN generator, written from the paper's Table 1 alone: the baseline the
inference benchmark compares the project's editing path with.

It shares no code with ``sagan_edit``: StarGAN-style layers (the attribute concatenated as a
fourth input channel, InstanceNorm with affine parameters, zero padding), run as written, in
float32, contiguous memory, no compilation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def conv_in_relu(cin: int, cout: int, k: int, s: int, p: int, *, transpose: bool = False) -> list:
    """Conv (or deconv) -> InstanceNorm -> ReLU, as one row of Table 1."""
    conv = nn.ConvTranspose2d if transpose else nn.Conv2d
    return [
        conv(cin, cout, k, s, p, bias=False),
        nn.InstanceNorm2d(cout, affine=True),
        nn.ReLU(inplace=True),
    ]


class Residual(nn.Module):
    """Residual block (L5-L8): ``x + IN(Conv(ReLU(IN(Conv(x)))))``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_in_relu(c, c, 3, 1, 1), nn.Conv2d(c, c, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(c, affine=True),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """Add the block's residual."""
        return x + self.body(x)


def encoder_decoder(cin: int, cout: int, base: int, head: nn.Module) -> nn.Sequential:
    """L1-L12 of Table 1 for ``cin`` input and ``cout`` output channels."""
    layers = conv_in_relu(cin, base, 7, 1, 3)
    c = base
    for _ in range(3):
        layers += conv_in_relu(c, c * 2, 4, 2, 1)
        c *= 2
    layers += [Residual(c) for _ in range(4)]
    for _ in range(3):
        layers += conv_in_relu(c, c // 2, 4, 2, 1, transpose=True)
        c //= 2
    layers += [nn.Conv2d(c, cout, 7, 1, 3), head]
    return nn.Sequential(*layers)


class PlainGenerator(nn.Module):
    """AMN and SAN as Table 1, blended by Eq. 7: ``I_a * b + I * (1 - b)``."""

    def __init__(self, base: int = 32) -> None:
        super().__init__()
        self.amn = encoder_decoder(4, 3, base, nn.Tanh())
        self.san = encoder_decoder(3, 1, base, nn.Sigmoid())

    def forward(self, image: Tensor, attribute: Tensor) -> tuple[Tensor, Tensor]:
        """Return the edited image and the mask for images in [-1, 1] and (N,) attributes."""
        plane = attribute.view(-1, 1, 1, 1).expand(-1, 1, *image.shape[2:])
        edited = self.amn(torch.cat([image, plane], dim=1))
        mask = self.san(image)
        return edited * mask + image * (1 - mask), mask

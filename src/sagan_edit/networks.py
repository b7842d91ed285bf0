"""SaGAN's networks, layer for layer as the paper's Tables 1 and 2.

Generator (Table 1), for ``base_channels=32`` and a 128x128 input:

    layer  AMN (attribute manipulation network)      SAN (spatial attention network)
    L1     Conv(I4, O32, K7, P3, S1), IN, ReLU        same, but I3 (the image alone)
    L2     Conv(I32, O64, K4, P1, S2), IN, ReLU       same
    L3     Conv(I64, O128, K4, P1, S2), IN, ReLU      same
    L4     Conv(I128, O256, K4, P1, S2), IN, ReLU     same
    L5-L8  Residual Block(I256, O256, K3, P1, S1)     same
    L9     Deconv(I256, O128, K4, P1, S2), IN, ReLU   same
    L10    Deconv(I128, O64, K4, P1, S2), IN, ReLU    same
    L11    Deconv(I64, O32, K4, P1, S2), IN, ReLU     same
    L12    Conv(I32, O3, K7, P3, S1), Tanh            same, but O1 and Sigmoid

    output  I_hat = I_a * b + I * (1 - b)             (Eq. 7)

Discriminator (Table 2), six Conv(K4, P1, S2) + LeakyReLU layers 32 ... 1024, then two heads:
``src`` Conv(I1024, O1, K3, P1, S1), a patch map of WGAN critic scores (Eq. 12), and ``cls``
Conv(I1024, O1, K=size/64, P0, S1), one attribute logit per image (Table 2's "I2014" is a typo for
1024; the sigmoid of the table is folded into the loss, `binary_cross_entropy_with_logits`).

Choices the paper leaves open, and why:

* **Padding**: zero padding with the sizes of the tables (P3 for 7x7, P1 for 4x4 and 3x3), as in
  StarGAN, whose generator Table 1 follows.
* **Bias**: convolutions followed by InstanceNorm have no bias (the norm subtracts the mean, so a
  bias would be dead weight); the output convolutions and the discriminator's layers keep theirs.
* **InstanceNorm**: ``affine=True``, no running statistics (StarGAN's choice): the per-channel
  scale and shift keep the layer expressive, and no statistics means train and eval behave alike.
* **Residual block**: ``x + IN(Conv3x3(ReLU(IN(Conv3x3(x)))))``, StarGAN's form, no final ReLU
  (``residual_norm="batch"``: BatchNorm in place of IN, as some public SaGAN code has it).
* **LeakyReLU slope**: 0.01. Table 2 is StarGAN's discriminator with half the channels, and this
  is StarGAN's slope for the same WGAN-GP objective (``leaky_slope``; PatchGAN uses 0.2).
* **Initialisation**: every convolution weight ~ N(0, 0.02) and biases zero (Section 3); the
  InstanceNorm scales start at 1 and shifts at 0 so that the norms start as plain normalisation.
* **The attribute channel**: AMN's input is the image plus the attribute ``c`` as a constant
  fourth channel (Section 3). Fed through ``Conv -> InstanceNorm`` as is, that constant is mostly
  erased: the convolution turns it into a per-channel constant, which the norm's mean
  subtraction removes everywhere except near the zero-padded borders, so what reaches the
  interior shrinks with the share of border pixels (it halves each time the image side doubles).
  So L1 keeps the table's
  single ``Conv(I4, O32, K7, P3)`` weight but normalises only the image part of its output and adds
  the attribute part after the norm (`AttributeInput`). With zero padding that is exactly the
  table's convolution of the 4-channel input; only the normalisation no longer sees ``c``, so the
  attribute reaches every pixel. `tests/test_networks.py` checks it changes the whole output.
  ``attribute_input="concat"`` builds Table 1 literally instead.

The alternatives are `sagan_edit.SaGANConfig` settings, so that a comparison can be rerun; the
training guide has what they measured (none learned more reliably than the defaults).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from .config import SaGANConfig

LEAKY_SLOPE = 0.01
INIT_STD = 0.02
RESIDUAL_NORMS = ("instance", "batch")
"""Normalisations of the residual blocks: InstanceNorm (StarGAN's, the default) or BatchNorm."""
ATTRIBUTE_INPUTS = ("after_norm", "concat")
"""How AMN's layer L1 takes the attribute (`AttributeInput`)."""


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


def _residual_norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else _instance_norm(channels)


class ResidualBlock(nn.Module):
    """Residual block ``x + N(Conv(ReLU(N(Conv(x)))))``, N BatchNorm or InstanceNorm."""

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        if norm not in RESIDUAL_NORMS:
            raise ValueError(f"residual_norm must be one of {RESIDUAL_NORMS}, got {norm!r}")
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False),
            _residual_norm(norm, channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False),
            _residual_norm(norm, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` plus the block's residual."""
        return x + self.main(x)


class AttributeInput(nn.Module):
    """AMN's layer L1, one Conv(I4, O32, K7, P3) weight over the image and the attribute.

    ``mode="concat"``: ``ReLU(IN(Conv([I, c])))``, Table 1 literally. ``mode="after_norm"``:
    ``ReLU(IN(Conv_img(I)) + Conv_attr(c))``, the attribute's share added after the norm, which
    would otherwise subtract most of it (see the module docstring).
    """

    def __init__(self, image_channels: int, out_channels: int, mode: str = "after_norm") -> None:
        super().__init__()
        if mode not in ATTRIBUTE_INPUTS:
            raise ValueError(f"attribute_input must be one of {ATTRIBUTE_INPUTS}, got {mode!r}")
        self.mode = mode
        self.image_channels = image_channels
        self.conv = nn.Conv2d(
            image_channels + 1, out_channels, kernel_size=7, padding=3, bias=False
        )
        self.norm = _instance_norm(out_channels)

    def forward(self, image: Tensor, attribute: Tensor) -> Tensor:
        """Compute L1's activations for an image batch and per-image attribute values."""
        attr_map = attribute.to(image.dtype).view(-1, 1, 1, 1).expand(-1, 1, *image.shape[2:])
        if self.mode == "concat":
            return F.relu(self.norm(self.conv(torch.cat([image, attr_map], dim=1))))
        weight_image = self.conv.weight[:, : self.image_channels]
        weight_attr = self.conv.weight[:, self.image_channels :]
        h = self.norm(F.conv2d(image, weight_image, padding=3))
        return F.relu(h + F.conv2d(attr_map, weight_attr, padding=3))


def _encoder_decoder_body(base: int, num_residual_blocks: int, norm: str) -> nn.Sequential:
    """Layers L2-L11 of Table 1: three stride-2 convs, residual blocks, three stride-2 deconvs."""
    layers: list[nn.Module] = []
    channels = base
    for _ in range(3):  # L2-L4
        layers += [
            nn.Conv2d(channels, channels * 2, kernel_size=4, stride=2, padding=1, bias=False),
            _instance_norm(channels * 2),
            nn.ReLU(inplace=True),
        ]
        channels *= 2
    layers += [ResidualBlock(channels, norm) for _ in range(num_residual_blocks)]  # L5-L8
    for _ in range(3):  # L9-L11
        layers += [
            nn.ConvTranspose2d(
                channels, channels // 2, kernel_size=4, stride=2, padding=1, bias=False
            ),
            _instance_norm(channels // 2),
            nn.ReLU(inplace=True),
        ]
        channels //= 2
    return nn.Sequential(*layers)


class AttributeManipulationNetwork(nn.Module):
    """AMN, F_m (Eq. 5): edits the whole image towards attribute value ``c``; outputs in [-1, 1]."""

    def __init__(
        self,
        base_channels: int = 32,
        num_residual_blocks: int = 4,
        residual_norm: str = "instance",
        attribute_input: str = "after_norm",
    ) -> None:
        super().__init__()
        self.input = AttributeInput(3, base_channels, attribute_input)  # L1
        self.body = _encoder_decoder_body(  # L2-L11
            base_channels, num_residual_blocks, residual_norm
        )
        self.output = nn.Conv2d(base_channels, 3, kernel_size=7, stride=1, padding=3)  # L12

    def forward(self, image: Tensor, attribute: Tensor) -> Tensor:
        """Compute I_a = F_m(I, c)."""
        return torch.tanh(self.output(self.body(self.input(image, attribute))))


class SpatialAttentionNetwork(nn.Module):
    """SAN, F_a (Eq. 6): predicts where to edit, an (N, 1, H, W) mask in [0, 1]."""

    def __init__(
        self, base_channels: int = 32, num_residual_blocks: int = 4, residual_norm: str = "instance"
    ) -> None:
        super().__init__()
        self.input = nn.Sequential(  # L1
            nn.Conv2d(3, base_channels, kernel_size=7, stride=1, padding=3, bias=False),
            _instance_norm(base_channels),
            nn.ReLU(inplace=True),
        )
        self.body = _encoder_decoder_body(  # L2-L11
            base_channels, num_residual_blocks, residual_norm
        )
        self.output = nn.Conv2d(base_channels, 1, kernel_size=7, stride=1, padding=3)  # L12

    def forward(self, image: Tensor) -> Tensor:
        """Compute the attention mask b = F_a(I)."""
        return torch.sigmoid(self.output(self.body(self.input(image))))


class GeneratorOutput(NamedTuple):
    """What `Generator.forward` returns; ``image == amn_image * mask + input * (1 - mask)``."""

    image: Tensor
    """The edited image I_hat (Eq. 7), in [-1, 1]."""
    mask: Tensor
    """The attention mask b, (N, 1, H, W) in [0, 1] (all ones for the variants without SAN)."""
    amn_image: Tensor
    """The image the mask composites in: AMN's raw output I_a, in [-1, 1] (for ``"residual"``:
    ``clamp(I + r)``)."""
    residual: Tensor | None = None
    """``"residual"`` variant only: the residual image r, in [-1, 1] (its L1 norm is ResGAN's
    sparsity penalty)."""


GENERATOR_VARIANTS = ("attention", "none", "residual")
"""Generator output rules: SaGAN's attention (Eq. 7), a whole-image generator as in StarGAN, and
a residual image as in ResGAN (the comparison of the paper's Section 4.2)."""


class Generator(nn.Module):
    """SaGAN's generator G (Eq. 4): ``amn`` says how to edit, ``san`` says where.

    ``variant`` picks the output rule, for the paper's comparison (Section 4.2):

    * ``"attention"`` (SaGAN, Eq. 7): ``I_hat = I_a * b + I * (1 - b)``, ``b = F_a(I)``.
    * ``"none"`` (whole-image, as StarGAN): ``I_hat = I_a``; there is no SAN.
    * ``"residual"`` (as ResGAN): AMN's tanh output is a residual r and
      ``I_hat = clamp(I + r, -1, 1)``; there is no SAN. ResGAN's L1 sparsity penalty on r is
      the trainer's (``lambda_sparsity``).
    """

    def __init__(
        self,
        base_channels: int = 32,
        num_residual_blocks: int = 4,
        variant: str = "attention",
        *,
        residual_norm: str = "instance",
        attribute_input: str = "after_norm",
    ) -> None:
        super().__init__()
        if variant not in GENERATOR_VARIANTS:
            raise ValueError(f"variant must be one of {GENERATOR_VARIANTS}, got {variant!r}")
        self.variant = variant
        self.amn = AttributeManipulationNetwork(
            base_channels, num_residual_blocks, residual_norm, attribute_input
        )
        self.san = (
            SpatialAttentionNetwork(base_channels, num_residual_blocks, residual_norm)
            if variant == "attention"
            else None
        )
        init_weights(self)

    @classmethod
    def from_config(cls, config: SaGANConfig) -> Generator:
        """Build the generator a model config describes."""
        return cls(
            config.base_channels,
            config.num_residual_blocks,
            config.variant,
            residual_norm=config.residual_norm,
            attribute_input=config.attribute_input,
        )

    def forward(self, image: Tensor, attribute: Tensor | float) -> GeneratorOutput:
        """Compute G(I, c) = I_a * b + I * (1 - b) for images in [-1, 1] and attribute values c.

        ``attribute`` is a float or an (N,) tensor; 1 means "with the attribute", 0 "without".
        """
        attribute = torch.as_tensor(attribute, dtype=image.dtype, device=image.device)
        attribute = attribute.reshape(-1).expand(image.shape[0])
        amn_out = self.amn(image, attribute)
        if self.san is not None:
            mask = self.san(image)
            edited = amn_out * mask + image * (1 - mask)
            return GeneratorOutput(edited, mask, amn_out)
        whole = image.new_ones((image.shape[0], 1, *image.shape[2:]))
        if self.variant == "residual":
            edited = (image + amn_out).clamp(-1, 1)
            return GeneratorOutput(edited, whole, edited, residual=amn_out)
        return GeneratorOutput(amn_out, whole, amn_out)


class DiscriminatorOutput(NamedTuple):
    """What `Discriminator.forward` returns."""

    src: Tensor
    """Critic scores, an (N, 1, h, w) patch map (WGAN: higher means more real)."""
    cls: Tensor
    """Attribute logits, (N,): sigmoid gives the probability of having the attribute."""


class Discriminator(nn.Module):
    """SaGAN's discriminator D (Table 2): a shared trunk, a real/fake head and an attribute head."""

    def __init__(
        self,
        image_size: int = 128,
        base_channels: int = 32,
        num_layers: int = 6,
        *,
        leaky_slope: float = LEAKY_SLOPE,
    ) -> None:
        super().__init__()
        if image_size % (2**num_layers):
            raise ValueError(f"image_size {image_size} is not divisible by 2**{num_layers}")
        layers: list[nn.Module] = []
        in_channels, channels = 3, base_channels
        for _ in range(num_layers):  # L1-L6
            layers += [
                nn.Conv2d(in_channels, channels, kernel_size=4, stride=2, padding=1),
                nn.LeakyReLU(leaky_slope, inplace=True),
            ]
            in_channels, channels = channels, channels * 2
        self.trunk = nn.Sequential(*layers)
        final_size = image_size // 2**num_layers
        self.src = nn.Conv2d(in_channels, 1, kernel_size=3, stride=1, padding=1)  # L7 src
        self.cls = nn.Conv2d(in_channels, 1, kernel_size=final_size, stride=1, padding=0)  # L7 cls
        init_weights(self)

    @classmethod
    def from_config(cls, config: SaGANConfig) -> Discriminator:
        """Build the discriminator a model config describes."""
        return cls(
            config.image_size,
            config.disc_base_channels,
            config.disc_layers,
            leaky_slope=config.disc_leaky_slope,
        )

    def forward(self, image: Tensor) -> DiscriminatorOutput:
        """Compute D_src(I) (critic patch map) and D_cls(I) (attribute logit)."""
        h = self.trunk(image)
        return DiscriminatorOutput(self.src(h), self.cls(h).reshape(-1))


def init_weights(module: nn.Module) -> None:
    """Initialise conv weights ~ N(0, 0.02) and biases to 0 (Section 3); norms to identity."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

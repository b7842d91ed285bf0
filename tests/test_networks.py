"""The networks match the paper's Tables 1 and 2 and behave as Eq. (7) says."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sagan_edit import Discriminator, Generator, SaGANConfig
from sagan_edit.networks import AttributeInput, ResidualBlock


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


@pytest.mark.parametrize("residual_norm", ["batch", "instance"])
def test_generator_layers_follow_table_1(residual_norm):
    g = Generator(base_channels=32, num_residual_blocks=4, residual_norm=residual_norm)
    for net, in_ch, out_ch in ((g.amn, 4, 3), (g.san, 3, 1)):
        convs = _convs(net)
        # L1, L2-L4, 4 residual blocks x 2 convs, L9-L11, L12
        assert len(convs) == 1 + 3 + 8 + 3 + 1
        first, last = convs[0], convs[-1]
        assert (first.in_channels, first.out_channels, first.kernel_size) == (in_ch, 32, (7, 7))
        assert (first.padding, first.stride) == ((3, 3), (1, 1))
        assert [c.out_channels for c in convs[1:4]] == [64, 128, 256]
        assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs[1:4])
        assert all(c.kernel_size == (3, 3) and c.out_channels == 256 for c in convs[4:12])
        assert all(isinstance(c, nn.ConvTranspose2d) for c in convs[12:15])
        assert [c.out_channels for c in convs[12:15]] == [128, 64, 32]
        assert (last.in_channels, last.out_channels, last.kernel_size) == (32, out_ch, (7, 7))
        kind = nn.BatchNorm2d if residual_norm == "batch" else nn.InstanceNorm2d
        blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
        assert [type(m) for b in blocks for m in b.modules() if "Norm" in type(m).__name__] == [
            kind
        ] * 8
        norms = [m for m in net.modules() if isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d))]
        assert len(norms) == 1 + 3 + 8 + 3


@pytest.mark.parametrize("slope", [0.2, 0.01])
def test_discriminator_layers_follow_table_2(slope):
    d = Discriminator(image_size=128, base_channels=32, num_layers=6, leaky_slope=slope)
    convs = _convs(d.trunk)
    relus = [m for m in d.trunk if isinstance(m, nn.LeakyReLU)]
    assert [m.negative_slope for m in relus] == [slope] * 6
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 512, 1024]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert (d.src.in_channels, d.src.kernel_size, d.src.padding) == (1024, (3, 3), (1, 1))
    assert (d.cls.in_channels, d.cls.kernel_size, d.cls.padding) == (1024, (2, 2), (0, 0))


@pytest.mark.parametrize("size", [64, 128, 256])
def test_shapes_at_supported_sizes(size):
    g, d = Generator(base_channels=8, num_residual_blocks=1), Discriminator(size, base_channels=4)
    x = torch.rand(2, 3, size, size) * 2 - 1
    out = g(x, torch.tensor([0.0, 1.0]))
    assert out.image.shape == x.shape and out.amn_image.shape == x.shape
    assert out.mask.shape == (2, 1, size, size)
    assert 0 <= out.mask.min() and out.mask.max() <= 1
    scores = d(x)
    assert scores.src.shape == (2, 1, size // 64, size // 64)
    assert scores.cls.shape == (2,)


def test_output_is_attention_blend_eq7():
    torch.manual_seed(0)
    g = Generator(base_channels=8, num_residual_blocks=1)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    out = g(x, 1.0)
    expected = out.amn_image * out.mask + x * (1 - out.mask)
    torch.testing.assert_close(out.image, expected)
    # Where SAN says "nowhere", the input passes through untouched.
    g.san.output.bias.data.fill_(-1e4)
    out = g(x, 1.0)
    assert torch.equal(out.mask, torch.zeros_like(out.mask))
    assert torch.equal(out.image, x)


def test_baseline_variants_have_no_san_and_follow_their_output_rules():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    whole = Generator(base_channels=8, num_residual_blocks=1, variant="none")
    residual = Generator(base_channels=8, num_residual_blocks=1, variant="residual")
    assert whole.san is None and residual.san is None
    assert not any(k.startswith("san.") for k in whole.state_dict())
    out = whole(x, 1.0)  # StarGAN's rule: the output is AMN's image, every pixel may change
    assert torch.equal(out.image, out.amn_image) and torch.equal(out.mask, torch.ones(2, 1, 32, 32))
    assert out.residual is None
    out = residual(x, 0.0)  # ResGAN's rule: input + residual, kept in the image range
    assert out.residual is not None
    torch.testing.assert_close(out.image, (x + out.residual).clamp(-1, 1))
    torch.testing.assert_close(out.image, out.amn_image * out.mask + x * (1 - out.mask))
    residual.amn.output.bias.data.fill_(0)
    residual.amn.output.weight.data.zero_()  # r = tanh(0) = 0: the input passes through
    assert torch.equal(residual(x, 1.0).image, x)
    with pytest.raises(ValueError, match="variant"):
        Generator(variant="cycle")


def test_weights_initialised_normal_002():
    torch.manual_seed(0)
    g = Generator()
    weights = torch.cat([c.weight.flatten() for c in _convs(g)])
    assert abs(weights.mean().item()) < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert all(c.bias is None or not c.bias.any() for c in _convs(g))


def test_attribute_changes_the_whole_amn_output():
    """The constant attribute channel must survive InstanceNorm (see the networks docstring)."""
    torch.manual_seed(0)
    g = Generator(base_channels=16, num_residual_blocks=2, attribute_input="after_norm").eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        with_attr = g.amn(x, torch.ones(2))
        without = g.amn(x, torch.zeros(2))
    interior = (with_attr - without)[..., 16:-16, 16:-16].abs()
    assert interior.mean() > 1e-2
    assert (interior.flatten(1) > 1e-4).float().mean() > 0.9  # nearly every interior pixel moves


def test_naive_constant_channel_fades_with_image_size():
    """Why AttributeInput exists: after Conv(I4) -> IN a constant channel reaches the interior
    only through the zero-padded borders, so its effect shrinks as the image grows; ours does not.
    """
    torch.manual_seed(0)
    layer = AttributeInput(3, 8, mode="after_norm")
    naive_norm = nn.InstanceNorm2d(8)
    effects = {}
    for size in (64, 256):
        low_res = torch.rand(1, 3, 8, 8) * 2 - 1  # a smooth, image-like input
        x = nn.functional.interpolate(low_res, size=(size, size), mode="bilinear")

        def naive(c: float, x=x, size=size) -> torch.Tensor:
            full = torch.cat([x, torch.full((1, 1, size, size), c)], dim=1)
            return naive_norm(nn.functional.conv2d(full, layer.conv.weight, padding=3))

        inner = slice(size // 8, -size // 8)
        naive_effect = (naive(1.0) - naive(0.0))[..., inner, inner].abs().mean().item()
        ours = (layer(x, torch.ones(1)) - layer(x, torch.zeros(1)))[..., inner, inner]
        effects[size] = (naive_effect, ours.abs().mean().item())
    assert effects[256][0] < 0.5 * effects[64][0]  # naive: fades with the border share
    assert effects[256][1] > 0.8 * effects[64][1]  # ours: independent of size
    assert effects[256][1] > 2 * effects[256][0]


def test_attribute_input_forward_adds_the_attribute_after_instance_norm():
    """L1 is ReLU(IN(Conv_img(I)) + Conv_attr(c)), both convolutions slices of one 4-channel
    Conv(I4) weight; the attribute reaches every interior pixel."""
    torch.manual_seed(0)
    layer = AttributeInput(3, 8, mode="after_norm")
    with torch.no_grad():  # a non-trivial affine InstanceNorm, so its parameters count too
        layer.norm.weight.uniform_(0.5, 1.5)
        layer.norm.bias.uniform_(-0.5, 0.5)
    x = torch.rand(2, 3, 24, 24) * 2 - 1
    c = torch.tensor([0.0, 1.0])
    got = layer(x, c)

    weight, eps = layer.conv.weight.detach(), layer.norm.eps
    h = nn.functional.conv2d(x, weight[:, :3], padding=3)
    mean = h.mean(dim=(2, 3), keepdim=True)
    var = h.var(dim=(2, 3), unbiased=False, keepdim=True)
    h = (h - mean) / torch.sqrt(var + eps)
    h = h * layer.norm.weight.view(1, -1, 1, 1) + layer.norm.bias.view(1, -1, 1, 1)
    plane = c.view(-1, 1, 1, 1).expand(-1, 1, 24, 24)
    expected = torch.relu(h + nn.functional.conv2d(plane, weight[:, 3:], padding=3))
    torch.testing.assert_close(got, expected)

    # the other attribute value moves every interior pixel's activations (borders see padding)
    flipped = layer(x, 1 - c)
    moved = (flipped - got)[..., 3:-3, 3:-3].abs().amax(dim=1)
    assert (moved > 1e-3).all()


def test_attribute_input_forward_concatenates_the_attribute_as_table_1_says():
    """L1 with mode="concat" is ReLU(IN(Conv([I, c]))), the attribute a constant 4th channel."""
    torch.manual_seed(0)
    layer = AttributeInput(3, 8, mode="concat")
    x, c = torch.rand(2, 3, 24, 24) * 2 - 1, torch.tensor([0.0, 1.0])
    plane = c.view(-1, 1, 1, 1).expand(-1, 1, 24, 24)
    h = nn.functional.conv2d(torch.cat([x, plane], dim=1), layer.conv.weight.detach(), padding=3)
    h = nn.functional.instance_norm(h, eps=layer.norm.eps)  # affine starts as the identity
    torch.testing.assert_close(layer(x, c), torch.relu(h))
    assert not torch.allclose(layer(x, c), AttributeInput(3, 8, mode="after_norm")(x, c))


def test_networks_are_built_as_the_config_says():
    config = SaGANConfig(
        "smiling", image_size=64, base_channels=8, num_residual_blocks=1, disc_base_channels=4,
        residual_norm="instance", attribute_input="after_norm", disc_leaky_slope=0.1,
    )  # fmt: skip
    g, d = Generator.from_config(config), Discriminator.from_config(config)
    assert g.amn.input.mode == "after_norm"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    assert d.trunk[0].out_channels == 4 and d.cls.kernel_size == (1, 1)
    with pytest.raises(ValueError, match="residual_norm"):
        Generator(residual_norm="group")
    with pytest.raises(ValueError, match="attribute_input"):
        Generator(attribute_input="film")

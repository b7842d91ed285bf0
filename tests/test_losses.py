"""Known answers for SaGAN's losses (sagan_edit.losses)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from sagan_edit.losses import (
    attribute_loss,
    attribute_warmup_objective,
    critic_loss_fake,
    critic_loss_real,
    discriminator_objective,
    generator_adversarial_loss,
    generator_objective,
    gradient_penalty,
    gradient_penalty_at,
    interpolate,
    reconstruction_loss,
    sparsity_loss,
)
from sagan_edit.networks import Discriminator, Generator


def linear_critic(weight: torch.Tensor, bias: float = 0.5):
    """D(x) = <w, x> + b per image: its input gradient is w everywhere, of norm ||w||."""

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * weight).flatten(1).sum(1) + bias

    return critic


@pytest.mark.parametrize("norm", [0.25, 1.0, 3.0])
def test_gradient_penalty_of_linear_critic_is_squared_norm_gap(norm: float) -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 8, 8)
    w = (w * norm / w.norm()).requires_grad_(True)
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    penalty = gradient_penalty(linear_critic(w), real, fake)
    assert penalty.item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    # create_graph: the penalty reaches w; d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    penalty.backward()
    expected = 2 * (norm - 1) * w.detach() / norm
    torch.testing.assert_close(w.grad, expected, atol=1e-5, rtol=1e-4)


def test_gradient_penalty_of_patch_critic_uses_gradient_of_map_sum() -> None:
    # Two patch scores, each linear with weight w1, w2: the gradient of their sum is w1 + w2.
    w1 = torch.zeros(1, 4, 4)
    w2 = torch.zeros(1, 4, 4)
    w1[0, 0, 0], w2[0, 3, 3] = 3.0, 4.0  # ||w1 + w2|| = 5

    def critic(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([(x * w1).flatten(1).sum(1), (x * w2).flatten(1).sum(1)], 1).view(
            -1, 1, 1, 2
        )

    points = torch.randn(3, 1, 4, 4)
    assert gradient_penalty_at(critic, points).item() == pytest.approx(16.0)


def test_gradient_penalty_is_per_image() -> None:
    # D(x) = a_i-dependent: x^2 summed gives gradient 2x, norm 2||x_i||, a different value per image
    points = torch.stack([torch.full((1, 2, 2), 0.25), torch.full((1, 2, 2), 1.0)])
    penalty = gradient_penalty_at(lambda x: (x**2).flatten(1).sum(1), points)
    norms = torch.tensor([2 * 0.25 * 2, 2 * 1.0 * 2])  # 2 * value * sqrt(4 pixels)
    assert penalty.item() == pytest.approx(((norms - 1) ** 2).mean().item())


def test_interpolates_lie_on_the_segments() -> None:
    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(64, 3, 4, 4), torch.randn(64, 3, 4, 4)
    points = interpolate(real, fake, generator=gen)
    alpha = (points - fake).flatten(1) / (real - fake).flatten(1)
    assert torch.allclose(alpha, alpha[:, :1].expand_as(alpha), atol=1e-3)  # one alpha per image
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert alpha[:, 0].std() > 0.2  # uniform on [0, 1]: std 0.29
    with pytest.raises(ValueError, match="differ in shape"):
        interpolate(real, fake[:3])


def test_wgan_losses() -> None:
    src = torch.tensor([[1.0, 3.0], [-2.0, 6.0]])
    assert critic_loss_real(src).item() == -2.0
    assert critic_loss_fake(src).item() == 2.0
    assert generator_adversarial_loss(src).item() == -2.0


def test_attribute_loss_is_bce_with_logits() -> None:
    logits = torch.tensor([0.0, 2.0, -3.0])
    target = torch.tensor([1.0, 1.0, 0.0])
    expected = (
        -(math.log(0.5) + math.log(1 / (1 + math.exp(-2))) + math.log(1 - 1 / (1 + math.exp(3))))
        / 3
    )
    assert attribute_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)
    # low-precision logits are scored in float32
    out = attribute_loss(logits.bfloat16(), target)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits.bfloat16().float(), target).item()
    )


def test_attribute_loss_prefers_the_right_sign() -> None:
    target = torch.ones(4)
    assert attribute_loss(torch.full((4,), 5.0), target) < attribute_loss(torch.zeros(4), target)
    assert attribute_loss(torch.full((4,), -5.0), target) > attribute_loss(torch.zeros(4), target)


def test_reconstruction_loss_is_mean_absolute_error() -> None:
    a = torch.zeros(2, 3, 2, 2)
    b = torch.zeros(2, 3, 2, 2)
    b[0, 0, 0, 0] = 2.4
    b[1, 2, 1, 1] = -1.2
    assert reconstruction_loss(a, b).item() == pytest.approx(3.6 / 24)
    assert reconstruction_loss(b.bfloat16(), a).dtype == torch.float32


# ------------------------------------------------------------------------------ the objectives


@dataclass(frozen=True)
class Weights:
    """The objectives' weights; lambda_2 is 10 before step ``warmup``, ``lambda_rec_id`` after."""

    lambda_gp: float = 10.0
    lambda_cls: float = 1.0
    lambda_rec_dual: float = 20.0
    lambda_rec_id: float = 100.0
    lambda_sparsity: float = 1.0
    warmup: int = 0

    def lambda_rec_id_at(self, step: int) -> float:
        return self.lambda_rec_id if step >= self.warmup else 10.0


def tiny_batch(
    variant: str = "attention",
) -> tuple[Generator, Discriminator, torch.Tensor, torch.Tensor]:
    """A small G and D (16x16) and a batch of 4 images with labels 0, 1, 0, 1."""
    torch.manual_seed(0)
    g, d = Generator(4, 0, variant), Discriminator(16, 4, 2)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    return g, d, real, torch.tensor([0.0, 1.0, 0.0, 1.0])


def test_discriminator_objective_is_eq_12_plus_the_attribute_term() -> None:
    g, d, real, label = tiny_batch()
    with torch.no_grad():
        fake = g(real, 1 - label).image
    loss, m = discriminator_objective(d, real, label, fake, Weights(lambda_gp=10, lambda_cls=2))
    assert set(m) == {"D/loss", "D/loss_real", "D/loss_fake", "D/loss_gp", "D/loss_cls",
                      "D/wasserstein", "D/cls_accuracy"}  # fmt: skip
    expected = m["D/loss_real"] + m["D/loss_fake"] + 10 * m["D/loss_gp"] + 2 * m["D/loss_cls"]
    torch.testing.assert_close(loss, expected)
    with torch.no_grad():
        out_real, out_fake = d(real), d(fake)
    torch.testing.assert_close(m["D/loss_real"], -out_real.src.mean())
    torch.testing.assert_close(m["D/loss_fake"], out_fake.src.mean())
    torch.testing.assert_close(m["D/loss_cls"], attribute_loss(out_real.cls, label))  # real labels
    loss.backward()  # the penalty's double backward reaches D's weights too
    assert all(p.grad is not None for p in d.parameters())


def test_attribute_warmup_objective_is_the_weighted_attribute_term_alone() -> None:
    _, d, real, label = tiny_batch()
    loss, m = attribute_warmup_objective(d, real, label, Weights(lambda_cls=3))
    with torch.no_grad():
        logits = d(real).cls
    torch.testing.assert_close(m["D/loss_cls"], attribute_loss(logits, label))
    torch.testing.assert_close(loss, 3 * m["D/loss_cls"])
    assert m["D/cls_accuracy"].item() == ((logits > 0).float() == label).float().mean().item()
    loss.backward()  # every weight is reached (DDP needs it); the critic head's gradient is 0
    assert all(p.grad is not None for p in d.parameters())
    assert all(not p.grad.any() for p in d.src.parameters())
    assert d.cls.weight.grad.abs().sum() > 0


def test_generator_objective_weights_its_terms_and_warms_up_lambda_2() -> None:
    g, d, real, label = tiny_batch()
    d.requires_grad_(False)
    weights = Weights(lambda_cls=3, lambda_rec_dual=5, warmup=10)
    early, m = generator_objective(g, d, real, label, weights, step=0)
    late, _ = generator_objective(g, d, real, label, weights, step=10)
    assert set(m) == {"G/loss", "G/loss_fake", "G/loss_cls", "G/loss_rec_dual", "G/loss_rec_id",
                      "G/mask_mean", "G/cls_accuracy"}  # fmt: skip
    expected = (m["G/loss_fake"] + 3 * m["G/loss_cls"] + 5 * m["G/loss_rec_dual"]
                + 10 * m["G/loss_rec_id"])  # fmt: skip
    torch.testing.assert_close(early, expected)
    torch.testing.assert_close(late - early, 90 * m["G/loss_rec_id"])  # lambda_2: 10, then 100
    with torch.no_grad():  # the edit aims at 1 - label; the identity edit keeps the label
        edit = g(real, 1 - label)
        out = d(edit.image)
        torch.testing.assert_close(m["G/loss_fake"], -out.src.mean())
        torch.testing.assert_close(m["G/loss_cls"], attribute_loss(out.cls, 1 - label))
        dual = reconstruction_loss(g(edit.image, label).image, real)
        torch.testing.assert_close(m["G/loss_rec_dual"], dual)
        identity = reconstruction_loss(g(real, label).image, real)
        torch.testing.assert_close(m["G/loss_rec_id"], identity)
        torch.testing.assert_close(m["G/mask_mean"], edit.mask.mean())


def test_with_batch_norm_the_edit_and_the_identity_run_as_separate_batches() -> None:
    torch.manual_seed(0)
    g, d = Generator(4, 1, residual_norm="batch"), Discriminator(16, 4, 2).requires_grad_(False)
    real, label = torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0.0, 1.0, 0.0, 1.0])
    _, joint = generator_objective(g, d, real, label, Weights(), step=0)
    _, apart = generator_objective(g, d, real, label, Weights(), step=0, joint_pass=False)
    with torch.no_grad():  # train mode: each batch is normalised by its own statistics
        identity = reconstruction_loss(g(real, label).image, real)
        edit = g(real, 1 - label)
        dual = reconstruction_loss(g(edit.image, label).image, real)
    torch.testing.assert_close(apart["G/loss_rec_id"], identity)
    torch.testing.assert_close(apart["G/loss_rec_dual"], dual)
    assert not torch.allclose(joint["G/loss_rec_id"], identity)  # the joint batch mixes them


def test_generator_objective_adds_the_residual_variants_sparsity_term() -> None:
    g, d, real, label = tiny_batch("residual")
    losses = {w: generator_objective(g, d, real, label, Weights(lambda_sparsity=w), step=0)
              for w in (0.0, 2.0)}  # fmt: skip
    (loss0, _), (loss2, m2) = losses[0.0], losses[2.0]
    with torch.no_grad():
        residual = g(real, 1 - label).residual
    torch.testing.assert_close(m2["G/loss_sparsity"], sparsity_loss(residual))
    torch.testing.assert_close(loss2 - loss0, 2.0 * m2["G/loss_sparsity"])
    assert "G/loss_sparsity" not in generator_objective(*tiny_batch(), Weights(), step=0)[1]

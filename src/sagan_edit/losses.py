"""SaGAN's training losses (paper Sections 2 and 3), as pure functions of network outputs.

================================  ==========================================  =================
loss                              formula                                     paper
================================  ==========================================  =================
`critic_loss_real`                ``-E[D_src(I)]``                            Eq. (12), term 1
`critic_loss_fake`                ``E[D_src(I_hat)]``                         Eq. (12), term 2
`gradient_penalty`                ``E[(||dD_src(I~)/dI~||_2 - 1)^2]``         Eq. (12), term 3
`generator_adversarial_loss`      ``-E[D_src(I_hat)]``                        Eq. (13)
`attribute_loss`                  ``E[-log D_cls(c | I)]``, BCE with logits   Eqs. (2), (9)
`reconstruction_loss`             ``E[|I - I'|]`` (L1, mean over pixels)      Eq. (10)
`sparsity_loss`                   ``E[|r|]`` of a residual image r            ResGAN baseline
================================  ==========================================  =================

``D_src`` is a PatchGAN map (one score per patch); an image's critic score is the map's mean, as
in StarGAN. The weights (``lambda_gp`` etc.) are applied by the trainer, not here.

Every loss is returned in float32 whatever the input dtype, so that bf16 autocast never reduces
or accumulates a loss in low precision.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def critic_loss_real(src_real: Tensor) -> Tensor:
    """Compute ``-mean(D_src(I))`` for real images: the critic raises their scores (Eq. 12)."""
    return -src_real.float().mean()


def critic_loss_fake(src_fake: Tensor) -> Tensor:
    """Compute ``mean(D_src(I_hat))`` for edited images: the critic lowers their scores (Eq. 12)."""
    return src_fake.float().mean()


def generator_adversarial_loss(src_fake: Tensor) -> Tensor:
    """Compute ``-mean(D_src(I_hat))``: the generator raises its edits' scores (Eq. 13)."""
    return -src_fake.float().mean()


def attribute_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Compute the binary cross-entropy of attribute logits against 0/1 targets (Eqs. 2, 9)."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float().reshape(logits.shape))


def reconstruction_loss(reconstructed: Tensor, original: Tensor) -> Tensor:
    """Compute the mean absolute difference ``mean(|I - I'|)`` (one term of Eq. 10)."""
    return (original.float() - reconstructed.float()).abs().mean()


def sparsity_loss(residual: Tensor) -> Tensor:
    """Compute ``mean(|r|)``: ResGAN's L1 penalty keeping the residual image sparse."""
    return residual.float().abs().mean()


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``I~ = a * I + (1 - a) * I_hat`` with ``a ~ U(0, 1)`` per image (Eq. 12's samples)."""
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    alpha = torch.rand(
        (real.shape[0],) + (1,) * (real.ndim - 1),
        generator=generator,
        device=real.device,
        dtype=torch.float32,
    )
    return alpha * real.float() + (1 - alpha) * fake.float()


def gradient_penalty_at(critic: Callable[[Tensor], Tensor], points: Tensor) -> Tensor:
    """Compute ``mean((||dD/dx||_2 - 1)^2)`` at ``points``, keeping the graph for a second backward.

    ``critic`` maps images to scores (any shape with the batch first). As in StarGAN, the
    gradient taken is that of the sum of an image's scores (``grad_outputs`` of ones), so a patch
    critic is penalised on the gradient of its whole map. The input gradient is computed with
    ``create_graph=True`` so that ``backward()`` of the result reaches the critic's weights.
    """
    points = points.detach().requires_grad_(True)
    scores = critic(points)
    (grad,) = torch.autograd.grad(
        outputs=scores,
        inputs=points,
        grad_outputs=torch.ones_like(scores),
        create_graph=True,
    )
    norms = grad.float().flatten(1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Compute WGAN-GP's penalty (Eq. 12, term 3) on random interpolates of real and fake images.

    Run it in float32 (outside autocast): see `sagan_edit.train` for why.
    """
    return gradient_penalty_at(critic, interpolate(real.detach(), fake.detach(), generator))

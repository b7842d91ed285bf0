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
in StarGAN. Every loss is returned in float32 whatever the input dtype, so that bf16 autocast
never reduces or accumulates a loss in low precision.

The whole objectives, with their weights (``lambda_gp`` etc.), are `discriminator_objective` and
`generator_objective`; with ``c_g`` the real label and ``c = 1 - c_g`` the edit target::

    L_D = -E[D_src(I)] + E[D_src(G(I, c))]
          + lambda_gp * GP + lambda_cls * BCE(D_cls(I), c_g)
    L_G = -E[D_src(G(I, c))] + lambda_cls * BCE(D_cls(G(I, c)), c)
          + lambda_1 * |I - G(G(I, c), c_g)|_1
          + lambda_2 * |I - G(I, c_g)|_1
          [+ lambda_sparsity * |r|_1 for the residual variant,
           r the residual of G(I, c)]

that is Eqs. (3) and (11) with WGAN-GP's adversarial terms (Eqs. 12, 13) in place of Eqs. (1)
and (8), the attribute terms (Eqs. 2, 9) and the reconstruction terms (Eq. 10).
`attribute_warmup_objective` is L_D's attribute term alone, for training D's attribute head
before the first G step (``TrainConfig.cls_warmup_steps``; not in the paper).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ObjectiveWeights",
    "attribute_accuracy",
    "attribute_loss",
    "attribute_warmup_objective",
    "autocast_for",
    "critic_loss_fake",
    "critic_loss_real",
    "discriminator_objective",
    "generator_adversarial_loss",
    "generator_objective",
    "gradient_penalty",
    "gradient_penalty_at",
    "interpolate",
    "reconstruction_loss",
    "sparsity_loss",
]


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


def attribute_accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Compute the share of attribute logits on the side (> 0 or not) of their 0/1 targets."""
    with torch.no_grad():
        predicted = (logits.float() > 0).float()
        return (predicted == target.float().reshape(predicted.shape)).float().mean()


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

    Run it in float32 (outside autocast): see `discriminator_objective` for why.
    """
    return gradient_penalty_at(critic, interpolate(real.detach(), fake.detach(), generator))


# ------------------------------------------------------------------------------ the objectives


class ObjectiveWeights(Protocol):
    """The weights the objectives read; `sagan_edit.train.TrainConfig` is one."""

    @property
    def lambda_gp(self) -> float:
        """Gradient penalty weight (Eq. 12)."""

    @property
    def lambda_cls(self) -> float:
        """Attribute loss weight, for D and G."""

    @property
    def lambda_rec_dual(self) -> float:
        """lambda_1, dual reconstruction (Eq. 10)."""

    @property
    def lambda_sparsity(self) -> float:
        """Weight of the residual variant's sparsity penalty."""

    def lambda_rec_id_at(self, step: int) -> float:
        """lambda_2, identity reconstruction (Eq. 10), at G step ``step`` (it may warm up)."""


def autocast_for(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """Return the context the networks run under: bf16 autocast, or nothing for fp32.

    Args:
        precision: ``fp32`` or ``bf16`` (resolved, not ``auto``).
        device: The device the networks run on.

    Returns:
        ``torch.autocast(device.type, dtype=torch.bfloat16)`` for bf16, else a no-op context.
    """
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def discriminator_objective(
    d: Callable[[Tensor], Any],
    real: Tensor,
    label: Tensor,
    fake: Tensor,
    weights: ObjectiveWeights,
    *,
    penalty_d: Callable[[Tensor], Any] | None = None,
    precision: str = "fp32",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Compute L_D (Eqs. 2, 3, 12): critic scores, gradient penalty and the attribute term.

    The gradient penalty runs in float32 outside autocast: it compares the input gradient's norm
    with 1, and with bf16's 8-bit mantissa that norm is only known to about 1 %, so near the
    target the penalty would be mostly rounding noise. It differentiates D twice, which
    ``DistributedDataParallel`` does not support, so it runs through ``penalty_d``, the plain
    module; its weight gradients reach the same parameters in the same ``backward()``.

    Args:
        d: The discriminator for the scores (a DDP wrapper or compiled module is fine).
        real: Real images I (B, 3, S, S).
        label: Their 0/1 labels c_g (B,).
        fake: Edited images G(I, 1 - c_g), without gradients.
        weights: ``lambda_gp`` and ``lambda_cls`` (a `TrainConfig`).
        penalty_d: The plain discriminator module the penalty differentiates (default ``d``).
        precision: ``fp32`` or ``bf16`` (`autocast_for`); the losses are float32 either way.

    Returns:
        L_D and the metrics ``D/loss``, ``D/loss_real``, ``D/loss_fake``, ``D/loss_gp``,
        ``D/loss_cls``, ``D/wasserstein`` and ``D/cls_accuracy``.
    """
    n = real.shape[0]
    with autocast_for(precision, real.device):
        out = d(torch.cat([real, fake.to(real.dtype)]))
    src_real, src_fake, cls_real = out.src[:n], out.src[n:], out.cls[:n]
    loss_real = critic_loss_real(src_real)  # -E[D_src(I)]
    loss_fake = critic_loss_fake(src_fake)  # +E[D_src(I_hat)]
    loss_cls = attribute_loss(cls_real, label)  # D learns the real labels (Eq. 2)
    critic = penalty_d if penalty_d is not None else d
    with torch.autocast(real.device.type, enabled=False):
        loss_gp = gradient_penalty(lambda images: critic(images).src, real, fake)
    loss = loss_real + loss_fake + weights.lambda_gp * loss_gp + weights.lambda_cls * loss_cls
    accuracy = attribute_accuracy(cls_real, label)
    metrics = {
        "D/loss": loss,
        "D/loss_real": loss_real,
        "D/loss_fake": loss_fake,
        "D/loss_gp": loss_gp,
        "D/loss_cls": loss_cls,
        "D/wasserstein": -(loss_real + loss_fake),
        "D/cls_accuracy": accuracy,
    }
    return loss, metrics


def attribute_warmup_objective(
    d: Callable[[Tensor], Any],
    real: Tensor,
    label: Tensor,
    weights: ObjectiveWeights,
    *,
    precision: str = "fp32",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Compute ``lambda_cls * BCE(D_cls(I), c_g)``, L_D's attribute term alone (the warm-up).

    The critic head is in the graph at weight 0: ``DistributedDataParallel`` reduces only the
    parameters a backward reaches, so every one must be reached.

    Returns:
        The loss and the metrics ``D/loss_cls`` (unweighted) and ``D/cls_accuracy``.
    """
    with autocast_for(precision, real.device):
        out = d(real)
    loss_cls = attribute_loss(out.cls, label)
    loss = weights.lambda_cls * loss_cls + 0.0 * out.src.float().mean()
    return loss, {"D/loss_cls": loss_cls, "D/cls_accuracy": attribute_accuracy(out.cls, label)}


def generator_objective(
    g: Callable[[Tensor, Tensor], Any],
    d: Callable[[Tensor], Any],
    real: Tensor,
    label: Tensor,
    weights: ObjectiveWeights,
    step: int,
    *,
    precision: str = "fp32",
    joint_pass: bool = True,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Compute L_G (Eqs. 9, 10, 11 and 13): adversarial, attribute and reconstruction terms.

    The edit ``G(I, c)`` and the identity ``G(I, c_g)`` run as one batch when ``joint_pass``
    (exact when G has no layer that mixes images, as with InstanceNorm), then the dual
    reconstruction ``G(G(I, c), c_g)``. With BatchNorm in G, pass ``joint_pass=False``: a joint
    batch would mix the two's statistics.

    Args:
        g: The generator (a DDP wrapper or compiled module is fine).
        d: The discriminator, weights frozen by the caller (the plain module: no backward
            reaches its weights, so it needs no DDP wrapper).
        real: Real images I (B, 3, S, S).
        label: Their 0/1 labels c_g (B,); the edit target is ``c = 1 - c_g``.
        weights: ``lambda_cls``, ``lambda_rec_dual``, ``lambda_rec_id_at`` and
            ``lambda_sparsity`` (a `TrainConfig`).
        step: G steps done (0-based), for lambda_2's warm-up.
        precision: ``fp32`` or ``bf16`` (`autocast_for`); the losses are float32 either way.
        joint_pass: Run the edit and the identity as one batch (see above).

    Returns:
        L_G and the metrics ``G/loss``, ``G/loss_fake``, ``G/loss_cls``, ``G/loss_rec_dual``,
        ``G/loss_rec_id``, ``G/mask_mean``, ``G/cls_accuracy`` and, for the residual variant,
        ``G/loss_sparsity``.
    """
    target = 1 - label
    with autocast_for(precision, real.device):
        if joint_pass:
            n = real.shape[0]
            both = g(torch.cat([real, real]), torch.cat([target, label]))
            fake, identity, mask = both.image[:n], both.image[n:], both.mask[:n]
            residual = both.residual[:n] if both.residual is not None else None
        else:
            edit = g(real, target)
            fake, mask, residual = edit.image, edit.mask, edit.residual
            identity = g(real, label).image
        dual = g(fake, label).image
        out = d(fake)
    loss_fake = generator_adversarial_loss(out.src)  # -E[D_src(I_hat)]
    loss_cls = attribute_loss(out.cls, target)  # the edit must have the target attribute (Eq. 9)
    loss_dual = reconstruction_loss(dual, real)  # |I - G(G(I, c), c_g)|
    loss_id = reconstruction_loss(identity, real)  # |I - G(I, c_g)|
    loss = (
        loss_fake
        + weights.lambda_cls * loss_cls
        + weights.lambda_rec_dual * loss_dual
        + weights.lambda_rec_id_at(step) * loss_id
    )
    extra: dict[str, Tensor] = {}
    if residual is not None:  # the residual variant: ResGAN's sparsity term
        extra["G/loss_sparsity"] = sparsity_loss(residual)
        loss = loss + weights.lambda_sparsity * extra["G/loss_sparsity"]
    accuracy = attribute_accuracy(out.cls, target)
    metrics = {
        "G/loss": loss,
        "G/loss_fake": loss_fake,
        "G/loss_cls": loss_cls,
        "G/loss_rec_dual": loss_dual,
        "G/loss_rec_id": loss_id,
        "G/mask_mean": mask.float().mean(),
        "G/cls_accuracy": accuracy,
        **extra,
    }
    return loss, metrics

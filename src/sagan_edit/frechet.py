"""Fréchet distances between sets of image features: the classifier's FCD and Inception's FID.

`frechet_distance` is the closed form for two Gaussians; `FrechetStats` accumulates a set's mean
and covariance batch by batch; `load_inception` opens a local TorchScript Inception network for
the standard FID (nothing is downloaded).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .errors import EvaluationError

__all__ = ["FrechetStats", "frechet_distance", "load_inception"]


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Compute ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians.

    ``Tr((S1 S2)^(1/2))`` is the sum of the square roots of the eigenvalues of
    ``S1^(1/2) S2 S1^(1/2)``, a symmetric matrix with the same spectrum as ``S1 S2``, so it is
    computed with symmetric eigendecompositions in float64 (no complex parts to discard).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError("means and covariances must have matching shapes (D,) and (D, D)")
    values, vectors = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root1 @ sigma2 @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


class FrechetStats:
    """Running mean and covariance of feature vectors (float64), for `frechet_distance`."""

    def __init__(self) -> None:
        self.count = 0
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None

    def update(self, features: Tensor | np.ndarray) -> None:
        """Add a batch of (N, D) feature vectors."""
        batch = np.asarray(
            features.detach().cpu().double() if isinstance(features, Tensor) else features,
            np.float64,
        )
        if self._sum is None:
            self._sum = np.zeros(batch.shape[1])
            self._outer = np.zeros((batch.shape[1], batch.shape[1]))
        self.count += batch.shape[0]
        self._sum += batch.sum(0)
        self._outer += batch.T @ batch

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the mean (D,) and the unbiased covariance (D, D) of everything added."""
        if self._sum is None or self._outer is None or self.count < 2:
            raise EvaluationError("a Fréchet distance needs at least two images on each side")
        mean = self._sum / self.count
        cov = (self._outer - self.count * np.outer(mean, mean)) / (self.count - 1)
        return mean, cov

    def distance(self, other: FrechetStats) -> float:
        """Fréchet distance between the Gaussians fitted to this and ``other``'s features."""
        return frechet_distance(*self.mean_cov(), *other.mean_cov())


def load_inception(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> Any:
    """Load the Inception-v3 feature network of FID from a local TorchScript file.

    The file is the one of NVIDIA's StyleGAN2-ADA / StyleGAN3 metrics and clean-fid,
    ``inception-2015-12-05.pt``: called as ``net(images, return_features=True)`` on uint8
    (N, 3, H, W) images, it resizes them to 299 itself and returns (N, 2048) pool features,
    the TensorFlow FID network's. It cannot be downloaded at run time; fetch it once and pass
    its path.
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: no such Inception file")
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated, but this file is one
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise EvaluationError(f"{path} is not a TorchScript Inception network: {exc}") from None
    return net.eval()

"""Synthetic toy faces for the tests, scripts and benchmarks: the attribute is a bright bar.

Not part of the library: import it with ``tests/`` on ``sys.path`` (pytest puts it there for the
tests; scripts and benchmarks add it themselves).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["SyntheticMarkDataset"]


class SyntheticMarkDataset(Dataset):
    """Toy faces for tests and benchmarks: the attribute is a bright bar at a fixed place.

    Each image is a smooth random background (a linear blend of two random colours plus a soft
    blob, values within [-0.9, 0.5]); images with label 1 carry a bright grey bar (value
    ``mark_value`` in every channel) over `region`: ``bar_height`` rows from row S/4 (default
    ``max(2, S/8)``, about 6 % of the image) and the middle half of the columns, like
    eyeglasses. `clean` holds every image without its bar, the exact target of a removal.
    Deterministic given ``seed``; half the images are positive.
    """

    def __init__(
        self,
        size: int = 256,
        image_size: int = 32,
        seed: int = 0,
        *,
        mark_value: float = 1.0,
        bar_height: int | None = None,
        blob: float = 0.4,
    ) -> None:
        if size < 1 or image_size < 8:
            raise ValueError("size must be >= 1 and image_size >= 8")
        self.image_size = image_size
        self.mark_value = mark_value
        """Value of the bar's pixels (all three channels)."""
        s = image_size
        top, height = s // 4, bar_height or max(2, s // 8)
        if not 1 <= height <= s - top:
            raise ValueError(f"bar_height must be within [1, {s - top}], got {height}")
        self.region = (top, top + height, s // 4, s - s // 4)
        """``(row0, row1, col0, col1)`` of the bar: rows ``row0:row1``, columns ``col0:col1``."""
        gen = torch.Generator().manual_seed(seed)
        self.labels = (torch.randperm(size, generator=gen) % 2).float()
        """(N,) labels, 1.0 = the bar is there."""
        ys, xs = torch.meshgrid(torch.linspace(0, 1, s), torch.linspace(0, 1, s), indexing="ij")
        angle = torch.rand(size, generator=gen) * 2 * math.pi
        ramp = xs * angle.cos().view(-1, 1, 1) + ys * angle.sin().view(-1, 1, 1)
        ramp = ramp - ramp.amin((1, 2), keepdim=True)
        ramp = (ramp / ramp.amax((1, 2), keepdim=True).clamp_min(1e-6)).unsqueeze(1)
        low, high = -0.9, 0.3
        c0 = low + (high - low) * torch.rand(size, 3, 1, 1, generator=gen)
        c1 = low + (high - low) * torch.rand(size, 3, 1, 1, generator=gen)
        image = c0 * (1 - ramp) + c1 * ramp
        centre = torch.rand(size, 2, 1, 1, generator=gen)
        dist2 = (ys - centre[:, 0]) ** 2 + (xs - centre[:, 1]) ** 2
        blob = torch.exp(-dist2 / 0.02).unsqueeze(1)
        tint = blob * (torch.rand(size, 3, 1, 1, generator=gen) - 0.5)
        self.clean = (image + tint * blob).clamp(-0.9, 0.5)
        """(N, 3, S, S) images without the bar."""
        self.images = self.with_mark(self.clean, self.labels)
        """(N, 3, S, S) images in [-1, 1], the bar drawn where the label is 1."""

    def with_mark(self, images: Tensor, labels: Tensor | float = 1.0) -> Tensor:
        """Return ``images`` with the bar drawn on those whose label is 1."""
        r0, r1, c0, c1 = self.region
        out = images.clone()
        labels = torch.as_tensor(labels, dtype=torch.float32).reshape(-1).expand(len(out))
        out[labels > 0.5, :, r0:r1, c0:c1] = self.mark_value
        return out

    def region_mask(self) -> Tensor:
        """Return an (S, S) boolean map of the bar's pixels."""
        r0, r1, c0, c1 = self.region
        mask = torch.zeros(self.image_size, self.image_size, dtype=torch.bool)
        mask[r0:r1, c0:c1] = True
        return mask

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def batch(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        """Return images (B, 3, S, S) and labels (B,) of ``indices``."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.images[index], self.labels[index]


def write_folder_dataset(folder: Path, count: int = 8, *, positives: bool = True) -> Path:
    """Write ``count`` PNG images and a ``labels.csv`` (the ``folder`` data layout); with
    ``positives=False`` every Eyeglasses label is 0."""
    folder.mkdir(parents=True)
    data = SyntheticMarkDataset(count, 16, seed=3)
    rows = ["file,Eyeglasses,Smiling"]
    for i in range(count):
        pixels = data.images[i].add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(folder / f"{i}.png")
        rows.append(f"{i}.png,{int(data.labels[i]) if positives else 0},0")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder

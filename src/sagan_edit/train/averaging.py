"""An exponential moving average of the generator's weights (``TrainConfig.ema_decay``).

Not in the paper. GAN weights oscillate from step to step; an average over the last few hundred
steps is a steadier generator (Yazici et al., "The Unusual Effectiveness of Averaging in GAN
Training", ICLR 2019). The average is kept beside G, never trained: the samples and the exported
model use it. torch's `AveragedModel` does the bookkeeping; this module only fixes how the
trainer holds, saves and restores it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

__all__ = ["WeightAverage"]


class WeightAverage:
    """``avg <- decay * avg + (1 - decay) * weights`` after each update; the first copies them.

    Args:
        module: The trained network; the average starts as a copy of it (held on its device).
        decay: Share of the old average kept at each update, in (0, 1).
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self._average = AveragedModel(
            module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True
        )
        self._average.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        """The averaged network (same class as the trained one)."""
        return self._average.module

    @property
    def updates(self) -> int:
        """Updates so far (0: the average is still the starting copy)."""
        return int(self._average.n_averaged.item())

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average towards ``module``'s current weights (a copy on the first call)."""
        self._average.update_parameters(module)

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights and the update count, for a checkpoint."""
        return self._average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (strict)."""
        self._average.load_state_dict(state)

"""Several processes (torchrun): this process's place in the run and joining the process group.

Under ``torchrun --nproc-per-node N`` (``WORLD_SIZE > 1``) the trainer wraps G and D in
``DistributedDataParallel``; every rank draws its own part of each batch and rank 0 writes the
outputs. Without torchrun nothing is initialised and the run is one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import TrainingError
from ..model import select_device

__all__ = [
    "DistributedContext",
    "all_gather_objects",
    "all_true",
    "init_distributed",
    "leave_process_group",
    "wrap_for_training",
]


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    """This process's rank (0 writes the outputs)."""
    world_size: int = 1
    """Processes training together."""
    local_rank: int = 0
    """Rank on this machine: the GPU index it uses."""
    initialized_here: bool = False
    """Whether `init_distributed` created the process group (and so destroys it)."""

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes logs, samples, checkpoints and the model."""
        return self.rank == 0


def init_distributed(device: str = "auto") -> tuple[DistributedContext, torch.device]:
    """Join the process group torchrun describes (``WORLD_SIZE > 1``); return it and the device.

    NCCL on CUDA, gloo otherwise; each process takes GPU ``LOCAL_RANK``. Without torchrun (or
    with one process) nothing is initialised and ``device`` is resolved as usual.

    Args:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ... (`TrainConfig.device`).

    Returns:
        This process's `DistributedContext` and the device it trains on.

    Raises:
        TrainingError: ``WORLD_SIZE > 1`` but torch was built without ``torch.distributed``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = select_device(device)
    if world_size <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistributedContext(), resolved
    if not dist.is_available():
        raise TrainingError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    created = False
    if not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
        created = True
    context = DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, created)
    return context, resolved


def leave_process_group(context: DistributedContext, *, wait_for_all: bool) -> None:
    """Destroy the process group if `init_distributed` created it; first, with ``wait_for_all``,
    wait until every rank gets here.

    Without that barrier, a rank still tearing gloo down when its peer had already exited was
    sometimes aborted ("terminate called without an active exception": 2 of 45 two-process test
    runs on a loaded 2-core CPU, none of 50 with it). Pass False after an error: the other ranks
    may never arrive.
    """
    if context.initialized_here and dist.is_initialized():
        if wait_for_all:
            dist.barrier()
        dist.destroy_process_group()


def all_gather_objects(context: DistributedContext, value: Any) -> list[Any]:
    """Return every rank's ``value``, in rank order (collective: every rank calls it).

    Args:
        context: This process's place in the run; a single process returns ``[value]``.
        value: Any picklable object.

    Returns:
        One value per rank.
    """
    if not context.enabled:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def wrap_for_training(
    module: nn.Module, context: DistributedContext, device: torch.device
) -> nn.Module:
    """Return ``module`` wrapped in ``DistributedDataParallel`` when several processes train.

    Args:
        module: A network already on ``device``.
        context: This process's place in the run; a single process gets ``module`` back.
        device: The training device (a CUDA device is DDP's ``device_ids``).

    Returns:
        The module whose forward a backward through the weights may follow.
    """
    if not context.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def all_true(context: DistributedContext, flag: torch.Tensor) -> bool:
    """Return whether a 0-d tensor ``flag`` is true on every rank (collective under DDP).

    Args:
        context: This process's place in the run.
        flag: This rank's answer, as a 0-d float tensor (1.0 true, 0.0 false).

    Returns:
        The answer of the whole run.
    """
    if context.enabled:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())

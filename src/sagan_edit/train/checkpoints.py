"""Checkpoints: what one holds, writing and reading it, and every RNG state it carries.

A checkpoint (``RUN/checkpoints/step_NNNNNNN.pt``, `checkpoint_dict`) holds G, D, both
optimisers, the step, the number of batches drawn, the config and every RNG state (torch CPU and
CUDA, numpy, Python; one set per rank), so a resumed run continues bit for bit on the same
hardware. Everything in it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import TrainingError, first_line
from ..fileio import atomic_path
from .config import TrainConfig
from .distributed import DistributedContext

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "checkpoint_dict",
    "checkpoint_step",
    "find_latest_checkpoint",
    "read_checkpoint",
    "restore_rng_states",
    "rng_state",
    "seed_everything",
    "set_rng_state",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "sagan-edit-checkpoint"
#: 2: ``train_config`` holds the networks' settings under ``model`` (`TrainConfig.to_dict`);
#: 1 (still read): flat.
CHECKPOINT_VERSION = 2
#: The run folder's subfolder of checkpoints.
CHECKPOINT_DIR = "checkpoints"


# ----------------------------------------------------------------------------------------- RNGs


def rng_state(device: torch.device) -> dict[str, Any]:
    """Capture every RNG this process uses, in types ``torch.load(weights_only=True)`` accepts.

    Args:
        device: The training device (its CUDA generator is captured too).

    Returns:
        The Python, numpy, torch CPU (and CUDA) generator states.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what `rng_state` captured.

    Args:
        state: A `rng_state` result (as stored in a checkpoint).
        device: The training device.
    """
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
         n["cached_gaussian"])
    )  # fmt: skip
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators with ``seed``.

    Args:
        seed: Any integer (numpy takes it modulo 2**32).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def restore_rng_states(
    states: list[dict[str, Any]],
    context: DistributedContext,
    device: torch.device,
    *,
    reseed: int,
    source: str | os.PathLike[str],
) -> None:
    """Restore this rank's RNG states from a checkpoint's list (one entry per rank).

    A checkpoint written by another number of processes cannot continue every stream: the RNGs
    are then seeded with ``reseed`` and a warning says the run will not repeat an uninterrupted
    one exactly.

    Args:
        states: The checkpoint's ``rng`` list.
        context: This process's place in the run.
        device: The training device.
        reseed: The seed used when the number of processes differs.
        source: The checkpoint, named in the warning.
    """
    if len(states) == context.world_size:
        set_rng_state(states[context.rank], device)
        return
    warnings.warn(
        f"{source} was written by {len(states)} process(es), this run has "
        f"{context.world_size}: random streams are reseeded, so the run will not "
        "repeat an uninterrupted one exactly",
        stacklevel=3,
    )
    seed_everything(reseed)


# ---------------------------------------------------------------------------------- the files


def find_latest_checkpoint(path: str | os.PathLike[str]) -> Path | None:
    """Return the newest checkpoint in a run folder (or its ``checkpoints/``), None if none.

    Args:
        path: A run folder or its ``checkpoints/`` folder.

    Returns:
        The ``step_*.pt`` file of the highest step, or None.
    """
    path = Path(path)
    folder = path / CHECKPOINT_DIR if (path / CHECKPOINT_DIR).is_dir() else path
    if not folder.is_dir():
        return None
    found = sorted(folder.glob("step_*.pt"))
    return found[-1] if found else None


def checkpoint_step(path: Path | None) -> int | None:
    """Return the step in a checkpoint's file name (``step_0000300.pt``: 300), None if none."""
    if path is None:
        return None
    try:
        return int(path.stem.split("_")[-1])
    except ValueError:
        return None


def checkpoint_dict(
    *,
    step: int,
    batches: int,
    world_size: int,
    config: TrainConfig,
    networks: dict[str, dict[str, Any]],
    rng: list[dict[str, Any]],
    metrics: dict[str, float],
) -> dict[str, Any]:
    """Return the dict a checkpoint file holds (the format `read_checkpoint` accepts).

    Args:
        step: Generator steps done.
        batches: Batches drawn from the index stream.
        world_size: Processes of the run.
        config: The run's settings.
        networks: State dicts of ``generator``, ``discriminator``, ``g_optimizer``,
            ``d_optimizer`` and, when the run keeps one, ``generator_average``.
        rng: Every rank's `rng_state`, in rank order.
        metrics: The last log window's means.

    Returns:
        The checkpoint's contents.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": step,
        "batches": batches,
        "world_size": world_size,
        "train_config": config.to_dict(),
        **networks,
        "rng": rng,
        "metrics": dict(metrics),
    }


def write_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write ``folder/step_NNNNNNN.pt`` atomically and delete all but the ``keep`` newest.

    Args:
        state: A `checkpoint_dict`.
        folder: The run's ``checkpoints/`` folder (created if needed).
        step: The step in the file name.
        keep: Checkpoints kept (0 keeps all).

    Returns:
        The written file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:07d}.pt"
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    if keep:
        for old in sorted(folder.glob("step_*.pt"))[:-keep]:
            old.unlink(missing_ok=True)
    return path


def _older_hint(path: Path) -> str:
    """Where an unreadable checkpoint has older siblings: say which, and how to resume from it."""
    older = sorted(p for p in path.parent.glob("step_*.pt") if p.name < path.name)
    if not older:
        return ""
    return (
        f"; an older checkpoint exists: {older[-1]} (move the broken file away, or resume from "
        "the older one: run_training(resume=<that file>))"
    )


def read_checkpoint(
    path: str | os.PathLike[str], config: TrainConfig
) -> tuple[Path, dict[str, Any]]:
    """Read a checkpoint for a run with settings ``config``; check its networks match them.

    Args:
        path: A checkpoint file, or a run folder (its newest checkpoint is read).
        config: The resuming run's settings: its `MODEL_FIELDS` must equal the checkpoint's.

    Returns:
        The file read and its `checkpoint_dict` contents (tensors on the CPU).

    Raises:
        TrainingError: No checkpoint, an unreadable file, not a sagan-edit checkpoint, or one
            trained with other network settings.
    """
    path = Path(path)
    if path.is_dir():
        found = find_latest_checkpoint(path)
        if found is None:
            raise TrainingError(f"{path}: no checkpoint (checkpoints/step_*.pt) to resume from")
        path = found
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise TrainingError(
            f"{path}: not a readable checkpoint ({first_line(exc)}){_older_hint(path)}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a sagan-edit training checkpoint")
    different = config.network_differences(state["train_config"])
    if different:
        raise TrainingError(
            f"{path} was trained with other network settings: {', '.join(different)}"
        )
    return path, state

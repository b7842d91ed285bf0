"""The entry point of ``sagan-edit train``: open the data, join the process group, resume, fit.

`Trainer` does the training itself; `run_training` is what the command line and ``torchrun``
call, with the checks that must run before any rank writes to the run folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from ..errors import TrainingError
from .batches import open_training_data
from .checkpoints import find_latest_checkpoint
from .config import TrainConfig
from .distributed import init_distributed, leave_process_group
from .trainer import Trainer, TrainResult

__all__ = ["run_training"]


def run_training(
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    dataset: Dataset | None = None,
    sample_dataset: Dataset | None = None,
    resume: str | os.PathLike[str] | bool | None = None,
    push_to_hub: str | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train from start to finish: the entry point of ``sagan-edit train``, torchrun included.

    Args:
        config: Every setting of the run.
        out_dir: The run folder.
        dataset: The training images; without it ``config.data`` is opened with
            `sagan_edit.data.load_dataset` (train split, no dataset-side flips: the trainer
            flips), and the sample grids use its test split when it has one.
        sample_dataset: The sample grids' images (default: as above, or ``dataset``).
        resume: True for the newest checkpoint in ``out_dir``, or a checkpoint file or run
            folder.
        push_to_hub: A Hub repo id the exported model is uploaded to (by rank 0).
        quiet: No progress line.

    Returns:
        What `Trainer.fit` returns.

    Raises:
        TrainingError: ``out_dir`` already holds a run and ``resume`` is not set, there is no
            data, or the checkpoint to resume from is missing or does not match.
    """
    existing = find_latest_checkpoint(out_dir)
    if not resume and existing is not None:
        # checked before any rank writes anything, so every rank sees the same answer
        raise TrainingError(
            f"{out_dir} already holds a run ({existing.name}); resume it or choose another folder"
        )
    context, device = init_distributed(config.device)
    finished = False
    try:
        if dataset is None:
            config, dataset, test_split = open_training_data(config, samples=sample_dataset is None)
            sample_dataset = sample_dataset if sample_dataset is not None else test_split
        trainer = Trainer(
            config,
            dataset,
            out_dir,
            sample_dataset=sample_dataset,
            distributed=context,
            device=device,
            quiet=quiet,
        )
        if resume:
            source = out_dir if resume is True else resume
            found = find_latest_checkpoint(source) if Path(source).is_dir() else Path(source)
            if found is None:
                raise TrainingError(f"{source}: no checkpoint to resume from")
            trainer.load_checkpoint(found)
        result = trainer.fit()
        if push_to_hub and context.is_main:
            trainer.to_sagan().push_to_hub(push_to_hub)
        finished = True
        return result
    finally:
        leave_process_group(context, wait_for_all=finished)

"""Training SaGAN: the paper's objective (Sections 2-3), checkpoints, logs, samples, DDP, export.

Every name below is importable from ``sagan_edit.train``; the submodules are:

- `sagan_edit.train.config`: `TrainConfig`, the presets, reading a run's saved settings;
- `sagan_edit.train.trainer`: `Trainer` (the D and G steps, the loop, export);
- `sagan_edit.train.run`: `run_training`, the entry point (data, processes, resume, fit);
- `sagan_edit.train.averaging`: the moving average of G's weights (``ema_decay``);
- `sagan_edit.train.batches`: the seeded index stream and batch fetching;
- `sagan_edit.train.checkpoints`: checkpoint files and RNG states;
- `sagan_edit.train.reporting`: the log, TensorBoard, the progress line, sample grids;
- `sagan_edit.train.distributed`: several processes under torchrun.

**Objective** (`sagan_edit.losses.discriminator_objective` and `generator_objective`, weights from
`TrainConfig`), with ``c_g`` the real label and ``c = 1 - c_g`` the edit target::

    L_D = -E[D_src(I)] + E[D_src(G(I, c))]
          + lambda_gp * GP + lambda_cls * BCE(D_cls(I), c_g)
    L_G = -E[D_src(G(I, c))] + lambda_cls * BCE(D_cls(G(I, c)), c)
          + lambda_rec_dual * |I - G(G(I, c), c_g)|_1
          + lambda_rec_id * |I - G(I, c_g)|_1
          [+ lambda_sparsity * |r|_1: residual variant, r the residual of G(I, c)]

As in yunjey/stargan's solver, an iteration is ``n_critic`` D steps, each on a fresh batch, then
one G step on the last of them; ``step`` counts G steps. The generator ``variant`` may also be
one of the paper's baselines (Section 4.2): a whole-image generator (``"none"``, StarGAN's
output rule) or a residual image (``"residual"``, ResGAN's, with its L1 sparsity penalty, whose
weight ``lambda_sparsity`` is our choice); data, D and the objective are shared.

**The paper's settings** (`PAPER_PRESET`, the defaults of `TrainConfig`): Adam, lr 2e-4, betas
(0.5, 0.999), batch 16, 3 D updates per G update, lambda_gp 10, lambda_1 (dual reconstruction)
20, lambda_2 (identity reconstruction) 100, weights ~ N(0, 0.02). **Our choices** (the paper
gives no length or schedule): 20,000 G steps (960,000 images seen by D at batch 16, about 5
passes over CelebA's 191,649 training images; the length of the public reimplementation
elvisyjlin/SpatialAttentionGAN), learning rates constant for the first half, then decaying
linearly to zero (StarGAN's schedule scaled to this length, so that the last steps average the
adversarial game out), random left-right flips (as StarGAN), and the attribute term weighted
``lambda_cls`` 10 where the paper's Eq. 11 adds it unweighted (as AttGAN weights its
generator's; at 1 it lost to the other terms and no synthetic run learned: the training guide).
`PRESETS` adds ``cpu``, a small setting for modest hardware.

**Determinism.** Pass ``e`` over the data is a permutation seeded by ``(seed, e)``, so the data
order depends only on the seed and the number of batches drawn (`IndexStream`); flips are drawn
by the trainer from ``(seed, batch number, rank)`` (load datasets with ``flip=False``). A
checkpoint stores that count and every RNG state (torch CPU and CUDA, numpy, Python; one set per
rank), so a resumed run continues bit for bit on the same hardware, DataLoader workers or not.

**Mixed precision.** ``precision="bf16"`` runs the networks under ``torch.autocast`` but computes
every loss in float32; the gradient penalty runs entirely in fp32, outside autocast (its norm,
compared with 1, would otherwise be mostly bf16 rounding noise), at the cost of one fp32 critic
pass. ``"auto"`` picks bf16 only where the device computes it natively.

**Several GPUs.** Run the same entry point under ``torchrun --nproc-per-node N`` (e.g.
``torchrun --nproc-per-node 4 -m sagan_edit train ...``): with ``WORLD_SIZE > 1`` the process
group is initialised from the environment (NCCL on CUDA, gloo on CPU), G and D are wrapped in
``DistributedDataParallel``, and each rank draws its own part of every batch: ``batch_size`` is
per process (for the paper's 16 on 4 GPUs pass ``batch_size=4``). The gradient penalty's double
backward runs through the plain D module, not the DDP wrapper (DDP does not support a forward
followed by ``autograd.grad(create_graph=True)``); its weight gradients reach the same parameters
in the same ``backward()``, and DDP averages them with the rest. In the G step D's weights are
frozen and D runs unwrapped too, so DDP only ever sees one backward per forward.

Examples:
    Train with the ``cpu`` preset on a CelebA-HQ folder, into ``runs/eyeglasses``:

    ```python
    from sagan_edit.train import TrainConfig, run_training

    config = TrainConfig.from_preset("cpu", data="data/celebahq128")
    run_training(config, "runs/eyeglasses")
    ```
"""

from __future__ import annotations

from ..errors import NonFiniteLossError, TrainingError
from ..hardware import PRECISIONS
from .averaging import WeightAverage
from .batches import IndexStream
from .checkpoints import CHECKPOINT_FORMAT, find_latest_checkpoint
from .config import CONFIG_NAME, MODEL_FIELDS, MODEL_SETTINGS, PAPER_PRESET, PRESETS, TrainConfig
from .distributed import DistributedContext, init_distributed, leave_process_group
from .reporting import sample_grid
from .run import run_training
from .trainer import Trainer, TrainResult

__all__ = [
    "CHECKPOINT_FORMAT",
    "CONFIG_NAME",
    "MODEL_FIELDS",
    "MODEL_SETTINGS",
    "PAPER_PRESET",
    "PRECISIONS",
    "PRESETS",
    "DistributedContext",
    "IndexStream",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "WeightAverage",
    "find_latest_checkpoint",
    "init_distributed",
    "leave_process_group",
    "run_training",
    "sample_grid",
]

"""``sagan-edit train``: train a SaGAN model with `sagan_edit.train.run_training`.

The options map onto `sagan_edit.train.TrainConfig` settings: `config_fields` says which
settings each option sets, and `settings_from_options` builds them from the options given on the
command line (`given_options`). Only those reach the library: the rest take the ``--preset``'s
values, or with ``--resume`` the run's saved ones (`TrainConfig.for_resume`). The defaults in
the signature are what ``--help`` shows (it must not import torch, so it cannot ask the library);
the tests check they are `TrainConfig`'s. The values themselves are checked by `TrainConfig` (a
bad value is a usage error naming its option).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import (
    PRECISIONS,
    PRESETS,
    VARIANTS,
    DataFormatOption,
    DeviceOption,
    check_data,
    check_device,
    choices_metavar,
    data_option,
    library_errors,
    one_line,
    out_option,
    print_error,
    quiet_option,
    stderr_console,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..train import TrainConfig

#: Options that are not `TrainConfig` settings: where the run goes and how it reports.
RUN_OPTIONS = frozenset({"out", "resume", "push_to_hub", "quiet", "preset"})
#: The `TrainConfig` settings an option sets, where they are not the one of its own name.
CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    "attr": ("attribute",),
    "base_channels": ("base_channels", "disc_base_channels"),
    "residual_blocks": ("num_residual_blocks",),
    "lr": ("g_lr", "d_lr"),
    "compile_model": ("compile",),
}


def config_fields(option: str) -> tuple[str, ...]:
    """The `TrainConfig` settings (flat names) option ``option`` (a parameter name) sets."""
    if option in RUN_OPTIONS:
        return ()
    return CONFIG_FIELDS.get(option, (option,))


def settings_from_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """`TrainConfig` settings, by flat name, from parsed options (a part of ``ctx.params``).

    An option that sets one setting wins over one that sets several, whatever their order on the
    command line: ``--disc-base-channels`` over ``--base-channels``.
    """
    ordered = sorted(options.items(), key=lambda item: -len(config_fields(item[0])))
    return {field: value for option, value in ordered for field in config_fields(option)}


def given_options(ctx: typer.Context) -> set[str]:
    """The options set on the command line, as opposed to left at their defaults."""
    given = set()
    for option in ctx.params:
        source = ctx.get_parameter_source(option)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            given.add(option)
    return given


def train_command(
    ctx: typer.Context,
    out: Annotated[
        Path, out_option("Run folder: log.jsonl, samples/, checkpoints/ and the Hub-ready model/.")
    ],
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            metavar=choices_metavar(PRESETS),
            help="Starting settings: the paper's (for a GPU) or small, fast CPU runs (64x64, "
            "base 16, lambda_2 10, balanced batches, attribute warm-up, weight average). "
            "Options given beside it override it.",
        ),
    ] = "paper",
    data: Annotated[
        str | None,
        data_option(
            "Training images: a CelebA or CelebA-HQ folder, a folder of images with a "
            "labels CSV (or the CSV), or a packed folder. Required unless --resume."
        ),
    ] = None,
    attr: Annotated[
        str | None,
        typer.Option(
            "--attr",
            "-a",
            metavar="NAME",
            show_default=False,
            help="Attribute to learn, any spelling (Eyeglasses, mouth_slightly_open). "
            "Required unless --resume.",
        ),
    ] = None,
    steps: Annotated[
        int, typer.Option("--steps", metavar="N", help="Generator steps (3 D steps each).")
    ] = 20_000,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", help="Images per batch and process.")
    ] = 16,
    image_size: Annotated[
        int,
        typer.Option("--image-size", metavar="PX", help="Training resolution (a multiple of 8)."),
    ] = 128,
    base_channels: Annotated[
        int,
        typer.Option("--base-channels", metavar="N", help="First-layer channels of G and D."),
    ] = 32,
    disc_base_channels: Annotated[
        int | None,
        typer.Option(
            "--disc-base-channels",
            metavar="N",
            show_default=False,
            help="First-layer channels of D alone. Default: --base-channels.",
        ),
    ] = None,
    residual_blocks: Annotated[
        int,
        typer.Option("--residual-blocks", metavar="N", help="Residual blocks in AMN and SAN."),
    ] = 4,
    disc_layers: Annotated[
        int,
        typer.Option(
            "--disc-layers",
            metavar="N",
            help="Stride-2 layers of D (image size / 2**N must be whole).",
        ),
    ] = 6,
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            metavar=choices_metavar(VARIANTS),
            help="Generator: attention (SaGAN), or the paper's baselines none (whole image, "
            "as StarGAN) and residual (as ResGAN).",
        ),
    ] = "attention",
    lr: Annotated[
        float, typer.Option("--lr", metavar="X", help="Adam learning rate of G and D.")
    ] = 2e-4,
    lambda_rec_id: Annotated[
        float,
        typer.Option(
            "--lambda-rec-id", metavar="X", help="lambda_2, identity reconstruction (paper: 100)."
        ),
    ] = 100.0,
    lambda_rec_dual: Annotated[
        float,
        typer.Option(
            "--lambda-rec-dual", metavar="X", help="lambda_1, dual reconstruction (paper: 20)."
        ),
    ] = 20.0,
    lambda_cls: Annotated[
        float,
        typer.Option(
            "--lambda-cls",
            metavar="X",
            help="Weight of the attribute loss, for D and G (paper: 1; see the training guide).",
        ),
    ] = 10.0,
    cls_warmup_steps: Annotated[
        int,
        typer.Option(
            "--cls-warmup",
            metavar="N",
            help="D steps on the attribute loss alone before the first G step (not in the "
            "paper; see the training guide).",
        ),
    ] = 0,
    lambda_sparsity: Annotated[
        float,
        typer.Option(
            "--lambda-sparsity",
            metavar="X",
            help="Residual variant: weight of the L1 penalty on the residual image.",
        ),
    ] = 1.0,
    lr_decay_fraction: Annotated[
        float,
        typer.Option(
            "--lr-decay-fraction",
            metavar="X",
            help="Learning rates decay linearly to 0 over this last share (0 to 1) of the steps.",
        ),
    ] = 0.5,
    ema_decay: Annotated[
        float,
        typer.Option(
            "--ema-decay",
            metavar="X",
            help="Export the moving average of G's weights with this decay (0: G itself; not "
            "in the paper; see the training guide).",
        ),
    ] = 0.0,
    positive_fraction: Annotated[
        float | None,
        typer.Option(
            "--positive-fraction",
            metavar="X",
            help="Balanced batches: share (between 0 and 1) of images with the attribute "
            "(default: the data's own).",
        ),
    ] = None,
    data_format: DataFormatOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out from its newest checkpoint; options not given "
            "keep that run's values.",
        ),
    ] = False,
    device: DeviceOption = "auto",
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="Seed of weights and data order.")
    ] = 0,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            metavar=choices_metavar(PRECISIONS),
            help="auto: bf16 autocast where the device computes it natively (CUDA; CPUs "
            "with AVX512_BF16 or AMX), else fp32.",
        ),
    ] = "auto",
    channels_last: Annotated[
        bool | None,
        typer.Option(
            "--channels-last/--no-channels-last",
            show_default=False,
            help="Channels-last memory format. Default: where it pays (CUDA, bf16).",
        ),
    ] = None,
    compile_model: Annotated[
        bool, typer.Option("--compile", help="Run G and D through torch.compile.")
    ] = False,
    num_workers: Annotated[
        int, typer.Option("--num-workers", metavar="N", help="DataLoader worker processes.")
    ] = 0,
    log_every: Annotated[
        int,
        typer.Option("--log-every", metavar="N", help="Log (and progress line) every N steps."),
    ] = 10,
    sample_every: Annotated[
        int,
        typer.Option("--sample-every", metavar="N", help="Sample grid every N steps (0: at end)."),
    ] = 500,
    checkpoint_every: Annotated[
        int,
        typer.Option(
            "--checkpoint-every", metavar="N", help="Checkpoint every N steps (0: at end)."
        ),
    ] = 1000,
    push_to_hub: Annotated[
        str | None,
        typer.Option(
            "--push-to-hub", metavar="REPO", help="Upload the finished model to this Hub repo id."
        ),
    ] = None,
    quiet: Annotated[bool, quiet_option("progress lines")] = False,
) -> None:
    """Train a SaGAN model with the paper's settings.

    The defaults are the paper's: Adam 2e-4, batch 16, 3 D steps per G step. Writes
    OUT/log.jsonl, OUT/samples/, OUT/checkpoints/ and, at the end, the Hub-ready folder
    OUT/model/, whose path is printed on stdout. Several GPUs: run the same command line with
    'torchrun --nproc-per-node 4 -m sagan_edit' in place of sagan-edit (--batch-size is per
    process).
    """
    if not resume and (data is None or attr is None):
        raise typer.BadParameter(
            "--data and --attr are required (unless --resume)", param_hint="'--data' / '--attr'"
        )
    check_data(data, data_format)
    check_device(device)
    from ..train import TrainConfig

    given = given_options(ctx)
    settings = settings_from_options({k: v for k, v in ctx.params.items() if k in given})
    if resume:
        config = _resumed_config(ctx, out, settings)
    else:
        _check_new_run(out)
        config = _make_config(ctx, lambda: TrainConfig.from_preset(preset, **settings))
    console = stderr_console()
    main_rank = os.environ.get("RANK", "0") == "0"  # torchrun: one banner, not one per rank
    if not quiet and main_rank:
        _print_banner(config, console)
    if config.steps == 0 and not resume and main_rank:
        console.print("warning: --steps 0: the exported model is untrained", markup=False)
    _run(config, out, resume=resume, push_to_hub=push_to_hub, quiet=quiet, console=console)


def _resumed_config(ctx: typer.Context, out: Path, settings: dict[str, Any]) -> TrainConfig:
    """``--resume``: the run's saved settings with ``settings`` (those given) over them.

    A saved ``train_config.json`` that cannot be read (corrupt, not a config), or a network
    setting that differs from the run's, is a one-line error, exit status 1.
    """
    from ..train import CONFIG_NAME, TrainConfig, find_latest_checkpoint

    if find_latest_checkpoint(out) is None:
        raise typer.BadParameter(f"{str(out)!r} holds no checkpoint", param_hint="'--resume'")
    if not (out / CONFIG_NAME).is_file():
        return _make_config(ctx, lambda: TrainConfig.from_preset(**settings))
    with library_errors():
        return _make_config(ctx, lambda: TrainConfig.for_resume(out, **settings))


def _run_files() -> tuple[str, ...]:
    """What a run writes in its folder: any of them there means the folder holds a run."""
    from ..train import CONFIG_NAME
    from ..train.checkpoints import CHECKPOINT_DIR
    from ..train.reporting import LOG_NAME
    from ..train.trainer import MODEL_DIR

    return (CHECKPOINT_DIR, CONFIG_NAME, LOG_NAME, MODEL_DIR)


def _check_new_run(out: Path) -> None:
    """A new run needs a folder that holds no run: no checkpoint, settings, log or model.

    A finished run whose ``checkpoints/`` was deleted still has its model and log, which a new
    run would overwrite and append to.
    """
    from ..train import find_latest_checkpoint

    found = [name for name in _run_files() if (out / name).exists()]
    if find_latest_checkpoint(out) is not None or found:
        held = f" ({', '.join(found)})" if found else ""
        raise typer.BadParameter(
            f"{str(out)!r} already holds a run{held}; pass --resume to continue it or choose "
            "another folder",
            param_hint="'--out'",
        )


def _make_config(ctx: typer.Context, build: Callable[[], TrainConfig]) -> TrainConfig:
    """Return ``build()``; a value it refuses is a usage error naming its option."""
    try:
        return build()
    except ValueError as exc:
        message = one_line(exc)
        raise typer.BadParameter(message, param_hint=_option_named_in(ctx, message)) from None


def _option_named_in(ctx: typer.Context, message: str) -> str | None:
    """The option (``'--lr'``) whose `TrainConfig` field starts ``message``, else None."""
    for param in ctx.command.params:
        fields = config_fields(param.name or "")
        if any(re.match(rf"{re.escape(field)}\b", message) for field in fields):
            flags = [opt for opt in param.opts if opt.startswith("--")] or param.opts
            return f"'{flags[0]}'"
    return None


def _entries(folder: Path) -> set[str] | None:
    """The names in ``folder``; None when it does not exist."""
    try:
        return {entry.name for entry in folder.iterdir()}
    except FileNotFoundError:
        return None


def _remove_new_entries(folder: Path, before: set[str] | None) -> None:
    """Remove the run files that appeared in ``folder`` since ``before`` (and it, if new, empty)."""
    import shutil

    if os.environ.get("RANK", "0") != "0":
        return  # rank 0 made them; one process cleans up
    from ..train.reporting import SAMPLE_DIR

    for name in (*_run_files(), SAMPLE_DIR, "tensorboard"):
        path = folder / name
        if before is not None and name in before:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink(missing_ok=True)
    if before is None:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: nothing else of ours or the user's is in it


def _print_banner(config: TrainConfig, console: Console) -> None:
    """Print every setting of the run on one line (stderr)."""
    shown = config.settings()
    console.print(
        "training " + ", ".join(f"{k}={v}" for k, v in shown.items() if v not in (None, ())),
        markup=False,
    )


def _run(
    config: TrainConfig,
    out: Path,
    *,
    resume: bool,
    push_to_hub: str | None,
    quiet: bool,
    console: Console,
) -> None:
    """Train; print the exported model folder on stdout (Ctrl-C: say how to resume, exit 130).

    A library error (`SaGANError`, or a ValueError from setting the trainer up, such as balanced
    batches without negatives or an image size too small for the networks) is one line, exit
    status 1; a new run that fails before its first checkpoint leaves no file behind.
    """
    from ..errors import SaGANError
    from ..train import find_latest_checkpoint, run_training

    before = _entries(out)
    try:
        result = run_training(config, out, resume=resume, push_to_hub=push_to_hub, quiet=quiet)
    except KeyboardInterrupt:
        print_error(f"interrupted; continue with --resume (checkpoints in {out})", console)
        raise typer.Exit(130) from None
    except (SaGANError, ValueError) as exc:
        if not resume and find_latest_checkpoint(out) is None:
            _remove_new_entries(out, before)
        print_error(exc, console)
        raise typer.Exit(1) from None
    if result.model_dir is not None:
        if push_to_hub and not quiet:
            console.print(f"pushed to the Hub: {push_to_hub}", markup=False)
        typer.echo(str(result.model_dir))

"""``sagan-edit eval``: measure a model's edits on a labelled test set (`sagan_edit.evaluate`).

The command loads the model, the test images and the judge, runs `sagan_edit.evaluate.evaluate`,
writes ``metrics.json``, ``metrics.md`` and ``samples.png`` into ``--out`` and prints that folder
on stdout, with a one-line summary on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._common import (
    SPLITS,
    DataFormatOption,
    DeviceOption,
    check_data,
    check_device,
    choices_metavar,
    data_option,
    library_errors,
    load_model,
    out_option,
    progress_bar,
    quiet_option,
    stderr_console,
    weights_option,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..evaluate import EvaluationReport


def eval_command(
    weights: Annotated[
        str,
        weights_option(
            "Model to evaluate: an alias, a local folder or a Hub repo id.",
            metavar="MODEL",
            show_default=False,
        ),
    ],
    data: Annotated[
        Path,
        data_option(
            "Test images with labels: a CelebA or CelebA-HQ folder, a folder with a labels "
            "CSV, or a pack."
        ),
    ],
    out: Annotated[
        Path,
        out_option(
            "Folder for metrics.json, metrics.md and samples.png (created; those files "
            "are replaced)."
        ),
    ],
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", min=1, help="Evaluate the first N test images only."),
    ] = None,
    split: Annotated[
        str,
        typer.Option("--split", metavar=choices_metavar(SPLITS), help="Images to evaluate on."),
    ] = "test",
    data_format: DataFormatOption = None,
    classifier: Annotated[
        str | None,
        typer.Option(
            "--classifier",
            metavar="MODEL",
            help="Judge: a classifier folder or Hub repo id (default: shipped).",
        ),
    ] = None,
    inception: Annotated[
        Path | None,
        typer.Option(
            "--inception",
            metavar="FILE",
            help="Local TorchScript Inception file (inception-2015-12-05.pt) for standard FID.",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", min=1, help="Images per pass.")
    ] = 32,
    samples: Annotated[
        int,
        typer.Option("--samples", metavar="N", min=0, help="Rows of the sample grid (0: none)."),
    ] = 8,
    device: DeviceOption = "auto",
    quiet: Annotated[bool, quiet_option("progress bar or summary")] = False,
) -> None:
    """Measure a model's edits on a labelled test set.

    Every test image is edited to the opposite value of the model's attribute, and the shipped
    attribute classifier judges the edits: editing accuracy, attribute preservation, change
    outside the attribute's place, mask statistics, Fréchet distances. Writes OUT/metrics.json
    (every figure and the settings), OUT/metrics.md (tables) and OUT/samples.png; prints the
    folder on stdout. The figures are defined in the evaluation guide (docs/evaluation.md).
    """
    _check_eval_options(data, out, split, data_format)
    from ..classifier import AttributeClassifier
    from ..data import load_dataset
    from ..evaluate import SHIPPED_JUDGE, evaluate, load_inception

    check_device(device)
    model = load_model(weights, device=device)
    console = stderr_console()
    with library_errors():
        dataset = load_dataset(
            data, model.attribute, split=split, image_size=model.config.image_size,
            data_format=data_format, flip=False, limit=limit,
        )  # fmt: skip
        net = load_inception(inception, model.device) if inception is not None else None
        judge = AttributeClassifier.from_pretrained(classifier, device=device)
        progress = progress_bar("evaluating", console, disable=quiet or not console.is_terminal)
        with progress:
            task = progress.add_task("evaluating", total=len(dataset))
            report, grid = evaluate(
                model, dataset, classifier=judge, inception=net, batch_size=batch_size,
                num_samples=samples,
                progress=lambda done, total: progress.update(task, completed=done),
                settings={
                    "model": weights, "data": str(data), "judge": classifier or SHIPPED_JUDGE,
                    "limit": limit, "inception": str(inception) if inception else None,
                },
            )  # fmt: skip
        report.save(out, grid)
    if not quiet:
        _print_summary(report, model.attribute, len(dataset), console)
    typer.echo(str(out))


def _check_eval_options(data: Path, out: Path, split: str, data_format: str | None) -> None:
    """Usage errors (exit 2) found before anything loads."""
    from ..data import SPLITS as LIBRARY_SPLITS

    check_data(data, data_format)
    if split not in LIBRARY_SPLITS:
        raise typer.BadParameter(
            f"{split!r} is not one of {', '.join(LIBRARY_SPLITS)}", param_hint="'--split'"
        )
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{str(out)!r} is a file, not a folder", param_hint="'--out'")


def _print_summary(report: EvaluationReport, attribute: str, images: int, console: Console) -> None:
    """One line on stderr: editing accuracy, preservation and FCD, both directions."""
    add, remove = report.add, report.remove
    console.print(
        f"{attribute}: editing accuracy add {_percent(add.editing_accuracy)} / remove "
        f"{_percent(remove.editing_accuracy)}, attribute preservation "
        f"{_percent(add.attribute_preservation)} / {_percent(remove.attribute_preservation)}"
        f", FCD {_number(report.frechet_classifier_distance)} ({images} "
        f"image{'s' if images != 1 else ''})",
        markup=False,
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"

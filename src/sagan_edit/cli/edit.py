"""``sagan-edit edit``: edit one attribute in photos, folders of photos or stdin.

The command checks the whole command line before any weights load, plans every output (folders
expanded, names chosen, inputs and existing files protected), then edits a few images at a time
with `SaGAN.edit` and writes each result atomically. A bad input is one ``error:`` line and is
skipped; the exit status is then 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import AlignmentUnavailableError, ImageLoadError, InvalidBoxError, NoFaceFoundError
from ._common import (
    ALIASES,
    STDIO,
    check_device,
    fail,
    load_model,
    print_error,
    progress_bar,
    stderr_console,
)
from ._files import OUTPUT_FORMATS, Job, plan_jobs, read_input, write_job

if TYPE_CHECKING:
    from rich.console import Console

    from ..model import EditResult, SaGAN


class EditValue(str, Enum):
    """Target value of the attribute: ``add`` it or ``remove`` it."""

    add = "add"
    remove = "remove"


def edit_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT",
            show_default=False,
            help="Image files, folders (the images directly inside, sorted) or - for stdin.",
        ),
    ],
    attr: Annotated[
        str | None,
        typer.Option(
            "--attr",
            "-a",
            metavar="ALIAS",
            help=f"Attribute to edit, a published model: {', '.join(ALIASES)}.",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            "-w",
            metavar="REPO_OR_FOLDER",
            help="Instead of --attr: a Hub repo id (user/name) or a local model folder.",
        ),
    ] = None,
    value: Annotated[
        EditValue,
        typer.Option(
            "--value",
            metavar="[add|remove]",
            case_sensitive=False,
            help="Add the attribute or remove it.",
        ),
    ] = EditValue.add,
    strength: Annotated[
        float,
        typer.Option(
            "--strength",
            "-s",
            metavar="S",
            min=0.0,
            max=1.0,
            help="Scale of the attention mask: 0 leaves the photo unchanged, 1 is the full edit.",
        ),
    ] = 1.0,
    box: Annotated[
        str | None,
        typer.Option(
            "--box",
            metavar="L,T,R,B",
            help="Square face region to edit, in pixels; no face detection. Default: find and "
            "align every face of a photo; edit a face crop whole.",
        ),
    ] = None,
    align: Annotated[
        bool | None,
        typer.Option(
            "--align/--no-align",
            show_default=False,
            help="Find and align every face (needs sagan-edit[align]), or treat inputs as "
            "aligned face crops. Default: align photos, not images that are already face crops.",
        ),
    ] = None,
    face: Annotated[
        list[int] | None,
        typer.Option(
            "--face",
            metavar="N",
            min=0,
            help="Edit only face N (0 = leftmost); repeat for several. Default: every face.",
        ),
    ] = None,
    min_face_size: Annotated[
        int,
        typer.Option(
            "--min-face-size",
            metavar="PX",
            min=1,
            help="Ignore faces narrower than this (pixels).",
        ),
    ] = 80,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Output file for a single input (.png, .jpg or .webp), or - for stdout (PNG).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", "-d", metavar="DIR", help="Folder for the outputs (created if needed)."
        ),
    ] = None,
    save_mask: Annotated[
        bool,
        typer.Option(
            "--save-mask", help="Also write the attention mask as <output stem>_mask.png."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite existing outputs (never an input).")
    ] = False,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            metavar="DEVICE",
            help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1...",
        ),
    ] = "auto",
    revision: Annotated[
        str | None,
        typer.Option("--revision", metavar="REV", help="Hub branch, tag or commit of the weights."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", min=1, help="Images per forward pass.")
    ] = 4,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors only: no progress bar or file list.")
    ] = False,
) -> None:
    """Edit an attribute in face photos (the default command).

    Each output is the input with the model's edit blended in through its attention mask, at the
    input's full size. By default it is written beside the input as <stem>_<attr>.png
    (<stem>_<attr>_removed.png with --value remove); stdin goes to stdout. Inputs are never
    overwritten, existing outputs only with --force. A bad input is reported and skipped; the
    exit status is then 1.

    \b
    Examples:
      sagan-edit photo.jpg --attr eyeglasses
      sagan-edit photo.jpg --attr eyeglasses --value remove -o out.jpg --strength 0.6
      sagan-edit photos/ --attr eyeglasses --out-dir edited/ --save-mask
      cat photo.jpg | sagan-edit - --attr eyeglasses > edited.png
    """
    from ..attributes import attribute_slug

    name = _check_edit_options(inputs, attr, weights, output, out_dir, save_mask)
    if box is not None and align:
        raise typer.BadParameter(
            "--box gives the face region; it excludes --align", param_hint="'--box'"
        )
    edit_options: dict[str, Any] = {
        "strength": strength, "box": _parse_box(box), "align": align, "faces": face or None,
        "min_face_size": min_face_size,
    }  # fmt: skip
    check_device(device)
    model = load_model(name, device=device, revision=revision)
    slug = attribute_slug(model.attribute)
    jobs, failures = plan_jobs(
        inputs, slug, value is EditValue.remove, output, out_dir, save_mask, force
    )
    if not jobs and not failures:
        fail("no images to edit")
    if out_dir is not None and jobs:
        out_dir.mkdir(parents=True, exist_ok=True)

    console = stderr_console()
    for message in failures:
        print_error(message, console)
    done = _run_jobs(model, jobs, value.value, edit_options, batch_size, console, quiet)
    failed = len(failures) + len(jobs) - done
    total = len(failures) + len(jobs)
    if failed:
        print_error(f"{failed} of {total} input(s) failed; {done} written", console)
        raise typer.Exit(1)
    if total > 1 and not quiet:
        console.print(f"edited {done} image(s)", markup=False)


# --------------------------------------------------------------------------- checks


def _check_edit_options(
    inputs: Sequence[str],
    attr: str | None,
    weights: str | None,
    output: str | None,
    out_dir: Path | None,
    save_mask: bool,
) -> str:
    """Reject impossible combinations before any weights load; return the name of the weights."""
    _check_model_choice(attr, weights)
    _check_inputs(inputs)
    if output is not None:
        if out_dir is not None:
            raise typer.BadParameter("use either -o/--output or --out-dir", param_hint="'--output'")
        if len(inputs) > 1 or os.path.isdir(inputs[0]):
            raise typer.BadParameter(
                "-o/--output takes a single input file; use --out-dir for several",
                param_hint="'--output'",
            )
        if output != STDIO:
            _check_output_file(Path(output))
    to_stdout = output == STDIO or (output is None and out_dir is None and STDIO in inputs)
    if to_stdout and sys.stdout is not None and sys.stdout.isatty():
        raise typer.BadParameter(
            "refusing to write image bytes to a terminal; redirect stdout or pass -o FILE",
            param_hint="'--output'",
        )
    if save_mask and to_stdout:
        raise typer.BadParameter(
            "--save-mask needs an output file (-o FILE or --out-dir), not stdout",
            param_hint="'--save-mask'",
        )
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{str(out_dir)!r} is not a folder", param_hint="'--out-dir'")
    return attr if attr is not None else weights  # type: ignore[return-value]


def _check_model_choice(attr: str | None, weights: str | None) -> None:
    """Exactly one of ``--attr`` (a known alias) and ``--weights``."""
    from ..hub import PRETRAINED, resolve_alias

    if (attr is None) == (weights is None):
        raise typer.BadParameter(
            "pass exactly one of --attr ALIAS or --weights REPO_OR_FOLDER",
            param_hint="'--attr' / '--weights'",
        )
    if attr is not None and resolve_alias(attr) is None:
        raise typer.BadParameter(
            f"unknown attribute {attr!r}; choose one of {', '.join(PRETRAINED)} "
            "(or pass --weights REPO_OR_FOLDER)",
            param_hint="'--attr'",
        )


def _check_inputs(inputs: Sequence[str]) -> None:
    """Every input exists; ``-`` (stdin) comes alone and is not a terminal."""
    if inputs.count(STDIO) > 1 or (STDIO in inputs and len(inputs) > 1):
        raise typer.BadParameter("`-` (stdin) must be the only input", param_hint="INPUT")
    if STDIO in inputs and sys.stdin is not None and sys.stdin.isatty():
        raise typer.BadParameter(
            "`-` reads an image from stdin, but stdin is a terminal; pipe an image in",
            param_hint="INPUT",
        )
    for item in inputs:
        if item != STDIO and not os.path.exists(item):
            raise typer.BadParameter(f"{item!r} does not exist", param_hint="INPUT")


def _check_output_file(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise typer.BadParameter(
            f"cannot write {path.suffix or 'a file without extension'!r}; "
            "name the output .png, .jpg or .webp",
            param_hint="'--output'",
        )
    if path.is_dir():
        raise typer.BadParameter(
            f"{str(path)!r} is a folder; use --out-dir", param_hint="'--output'"
        )
    if not path.parent.is_dir():
        raise typer.BadParameter(
            f"folder {str(path.parent)!r} does not exist", param_hint="'--output'"
        )


def _parse_box(box: str | None) -> tuple[int, int, int, int] | None:
    """Parse ``--box L,T,R,B`` into four integers (a usage error otherwise)."""
    if box is None:
        return None
    parts = box.replace(" ", "").split(",")
    try:
        left, top, right, bottom = (int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(
            f"expected four integers L,T,R,B, got {box!r}", param_hint="--box"
        ) from None
    if right - left != bottom - top or right <= left or min(left, top) < 0:
        raise typer.BadParameter(
            f"{box!r} is not a non-empty square (R-L must equal B-T)", param_hint="--box"
        )
    return left, top, right, bottom


# --------------------------------------------------------------------------- editing


def _run_jobs(
    model: SaGAN,
    jobs: list[Job],
    value: str,
    edit_options: dict[str, Any],
    batch_size: int,
    console: Console,
    quiet: bool,
) -> int:
    """Edit and write every job, a few images at a time; return how many were written."""
    written = 0
    # A bar only helps a person watching; logs get the per-file lines instead.
    progress = progress_bar(
        "editing", console, disable=quiet or len(jobs) < 2 or not console.is_terminal
    )
    with progress:
        task = progress.add_task("editing", total=len(jobs))
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start : start + batch_size]
            for job, result in zip(
                batch, _edit_batch(model, batch, value, edit_options, console), strict=True
            ):
                if result is not None and write_job(job, result, console):
                    written += 1
                    if not quiet and job.output is not None:
                        console.print(f"{job.label} -> {job.output}", markup=False)
                progress.advance(task)
    return written


_INPUT_ERRORS = (ImageLoadError, InvalidBoxError, NoFaceFoundError, AlignmentUnavailableError)
"""Errors that concern one input: reported, and the batch goes on."""


def _edit_batch(
    model: SaGAN, batch: list[Job], value: str, edit_options: dict[str, Any], console: Console
) -> list[EditResult | None]:
    """Edit a batch; when one image in it is unreadable, edit the others one by one."""
    images: list[Any] = [read_input(job) for job in batch]
    if len(batch) > 1 and all(image is not None for image in images):
        try:
            return list(model.edit(images, value, batch_size=len(batch), **edit_options))
        except _INPUT_ERRORS:
            pass  # find out which one below
    results: list[EditResult | None] = []
    for job, image in zip(batch, images, strict=True):
        result = None
        if image is not None:
            try:
                result = model.edit(image, value, **edit_options)  # type: ignore[assignment]
            except _INPUT_ERRORS as exc:
                message = str(exc) if job.source is not None else f"{job.label}: {exc}"
                print_error(message, console)
        results.append(result)
    return results

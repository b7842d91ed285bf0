"""``sagan-edit edit``: edit one attribute in photos, folders of photos or stdin.

The command checks the whole command line before any weights load, plans every output (folders
expanded, names chosen, inputs and existing files protected), then, file after file, reads the
image and finds and aligns its faces (`SaGAN.prepare`), runs the generator on batches of
``--batch-size`` faces gathered across files (`SaGAN.generate`), pastes each face back and writes
each result atomically as soon as all its faces are done. A bad input is one ``error:`` line and
is skipped; the exit status is then 1. In float32 on a CPU the outputs are byte for byte those of
``--batch-size 1`` (`sagan_edit.inference`). ``--verbose`` reports where the time went.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import AlignmentUnavailableError, ImageLoadError, InvalidBoxError, NoFaceFoundError
from ._common import (
    ALIASES,
    STDIO,
    DeviceOption,
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

    from ..model import PreparedImage, SaGAN


DEFAULT_BATCH_SIZE = 16
"""Faces per forward pass: the batch of the speed table (`docs/performance.md`)."""
MAX_WAITING_PIXELS = 50_000_000
"""Pixels of the images whose faces wait for a forward pass (about four 12-MP photos, 0.5 GB
with their outputs being built); past this, the faces gathered so far run in a smaller batch."""


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
    device: DeviceOption = "auto",
    revision: Annotated[
        str | None,
        typer.Option("--revision", metavar="REV", help="Hub branch, tag or commit of the weights."),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            metavar="N",
            min=1,
            help="Faces per forward pass, gathered across files.",
        ),
    ] = DEFAULT_BATCH_SIZE,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors only: no progress bar or file list.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also print where the time went: start-up, imports, model load, read, "
            "detect/align, edit, paste-back, write.",
        ),
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
    timings = _Timings()
    with timings.stage("imports"):  # and the checks: torch loads with the device check
        from ..attributes import attribute_slug

        name = _check_edit_options(inputs, attr, weights, output, out_dir, save_mask)
        if box is not None and align:
            raise typer.BadParameter(
                "--box gives the face region; it excludes --align", param_hint="'--box'"
            )
        if verbose and quiet:
            raise typer.BadParameter(
                "--verbose and --quiet exclude each other", param_hint="'--verbose'"
            )
        where: dict[str, Any] = {
            "box": _parse_box(box), "align": align, "faces": face or None,
            "min_face_size": min_face_size,
        }  # fmt: skip
        check_device(device)
    with timings.stage("model load"):
        model = load_model(name, device=device, revision=revision)
    with timings.stage("read"):
        jobs, failures = plan_jobs(
            inputs, attribute_slug(model.attribute), value is EditValue.remove, output, out_dir,
            save_mask, force,
        )  # fmt: skip
    if not jobs and not failures:
        fail("no images to edit")
    if out_dir is not None and jobs:
        out_dir.mkdir(parents=True, exist_ok=True)

    console = stderr_console()
    for message in failures:
        print_error(message, console)
    batches = _FaceBatches(model, value.value, strength, batch_size, timings)
    done = _run_jobs(batches, jobs, where, console, quiet)
    if verbose:
        console.print(timings.line(done, batches.faces_edited), markup=False)
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

_INPUT_ERRORS = (ImageLoadError, InvalidBoxError, NoFaceFoundError, AlignmentUnavailableError)
"""Errors that concern one input: reported, and the other inputs go on."""


def _run_jobs(
    batches: _FaceBatches,
    jobs: list[Job],
    where: dict[str, Any],
    console: Console,
    quiet: bool,
) -> int:
    """Edit and write every job, faces batched across files; return how many were written."""
    written = 0
    # A bar only helps a person watching; logs get the per-file lines instead.
    progress = progress_bar(
        "editing", console, disable=quiet or len(jobs) < 2 or not console.is_terminal
    )
    with progress:
        task = progress.add_task("editing", total=len(jobs))
        for job in [*jobs, None]:
            if job is None:  # the end: the last, partial batch
                finished = batches.flush()
            else:
                image = _prepare(batches.model, job, where, console, batches.timings)
                if image is None:
                    progress.advance(task)
                    continue
                finished = batches.add(job, image)
            for item in finished:
                written += _write(item, console, quiet, batches.timings)
                progress.advance(task)
    return written


def _prepare(
    model: SaGAN, job: Job, where: dict[str, Any], console: Console, timings: _Timings
) -> PreparedImage | None:
    """Read one input and find and align its faces; report a bad input and return None."""
    from ..imaging import load_image

    try:
        with timings.stage("read"):
            (source,) = load_image(read_input(job))
        with timings.stage("detect/align"):
            return model.prepare(source, **where)
    except _INPUT_ERRORS as exc:
        print_error(str(exc) if job.source is not None else f"{job.label}: {exc}", console)
        return None


def _write(item: _Waiting, console: Console, quiet: bool, timings: _Timings) -> bool:
    """Write one finished image (and its mask), reporting it; return whether it was written."""
    job = item.job
    with timings.stage("write"):
        written = write_job(job, item.image.result(), console)
    if written and not quiet and job.output is not None:
        console.print(f"{job.label} -> {job.output}", markup=False)
    return written


@dataclass
class _Waiting:
    """An image whose faces are in the queue: its job and how many faces are not pasted yet."""

    job: Job
    image: PreparedImage
    left: int


class _FaceBatches:
    """Gathers the faces of successive images into forward passes of ``batch_size`` faces.

    Images come back, in the order they were added, once all their faces are pasted back.
    """

    def __init__(
        self, model: SaGAN, value: str, strength: float, batch_size: int, timings: _Timings
    ) -> None:
        self.model, self.value, self.strength = model, value, strength
        self.batch_size, self.timings = batch_size, timings
        self.waiting: list[_Waiting] = []
        self.queue: list[tuple[_Waiting, int]] = []
        self.faces_edited = 0

    def add(self, job: Job, image: PreparedImage) -> list[_Waiting]:
        """Queue ``image``'s faces; run every full batch; return the images now finished."""
        item = _Waiting(job, image, len(image.crops))
        self.waiting.append(item)
        self.queue += [(item, k) for k in range(item.left)]
        while len(self.queue) >= self.batch_size:
            self._run(self.batch_size)
        if sum(w.image.source.rgb.shape[0] * w.image.source.rgb.shape[1] for w in self.waiting) > (
            MAX_WAITING_PIXELS
        ):
            self._run(len(self.queue))
        return self._finished()

    def flush(self) -> list[_Waiting]:
        """Run the faces left in the queue; return the images now finished."""
        self._run(len(self.queue))
        return self._finished()

    def _run(self, count: int) -> None:
        chunk, self.queue = self.queue[:count], self.queue[count:]
        if not chunk:
            return
        with self.timings.stage("edit"):
            crops = [item.image.crops[k] for item, k in chunk]
            output = self.model.generate(crops, self.value, batch_invariant=True)
        with self.timings.stage("paste-back"):
            for j, (item, k) in enumerate(chunk):
                item.image.paste(k, output.amn_image[j], output.mask[j], self.strength)
                item.left -= 1
        self.faces_edited += len(chunk)

    def _finished(self) -> list[_Waiting]:
        done = 0
        while done < len(self.waiting) and self.waiting[done].left == 0:
            done += 1
        finished, self.waiting = self.waiting[:done], self.waiting[done:]
        return finished


# --------------------------------------------------------------------------- --verbose


STAGES = ("imports", "model load", "read", "detect/align", "edit", "paste-back", "write")
"""The stages ``--verbose`` times after the start-up, in order; several files add up."""


class _Timings:
    """Seconds spent in each stage of the command, added up over the inputs (``--verbose``)."""

    def __init__(self) -> None:
        self.entered = time.perf_counter()
        self.startup = seconds_since_process_start()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time the block takes to stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def line(self, images: int, faces: int) -> str:
        """One line: ``time: start-up 0.40 s, imports 1.62 s, ... total 2.31 s (1 image...)``."""
        stages = {"start-up": self.startup, **{s: self.seconds.get(s, 0.0) for s in STAGES}}
        parts = [f"{name} {_seconds(value)}" for name, value in stages.items()]
        total = time.perf_counter() - self.entered + (self.startup or 0.0)
        since = "" if self.startup is not None else " since the command started"
        return (
            f"time: {', '.join(parts)}; total {_seconds(total)}{since} "
            f"({images} image(s) written, {faces} face(s) edited)"
        )


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3f} s"


def seconds_since_process_start() -> float | None:
    """How long this process has been running, from the kernel's record of its start (Linux).

    Python keeps no timestamp of the interpreter's start; ``/proc/self/stat`` gives the
    process's start in clock ticks (1/100 s) since boot, on the clock ``CLOCK_BOOTTIME`` reads.
    None where that is not available (other systems).
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None

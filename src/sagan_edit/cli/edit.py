"""``sagan-edit edit``: edit attributes in photos, folders of photos or stdin.

The command checks the whole command line before any weights load (`_edit_options`), plans every
output (folders expanded, names chosen, inputs and existing files protected), then edits file
after file and writes each result atomically as soon as it is done (`_files`). A bad input is one
``error:`` line and is skipped; the exit status is then 1. ``--verbose`` reports where the time
went (`_timings`).

One attribute added or removed (`_FaceBatches`): each image is read and its faces found and
aligned (`SaGAN.prepare`), the generator runs on batches of ``--batch-size`` faces gathered
across files (`SaGAN.generate`), and each face is pasted back. On a CPU (float32 or bf16) the
outputs are byte for byte those of ``--batch-size 1`` (`sagan_edit.inference`).

Several attributes, or ``toggle`` (`_EachImage`): each image goes through
`sagan_edit.editor.Editor.edit`, which finds and aligns its faces once and applies the models in
turn; what ``toggle`` decided for each face is reported on stderr.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import AlignmentUnavailableError, ImageLoadError, InvalidBoxError, NoFaceFoundError
from ._common import (
    ALIASES,
    DeviceOption,
    RevisionOption,
    check_device,
    fail,
    library_errors,
    load_model,
    print_error,
    progress_bar,
    quiet_option,
    stderr_console,
    weights_option,
)
from ._edit_options import EDIT_VALUES, EditValue, check_edit_options, parse_box
from ._files import Job, plan_jobs, read_input, write_job
from ._timings import Timings

if TYPE_CHECKING:
    from rich.console import Console

    from ..editor import Editor
    from ..model import EditResult, PreparedImage, SaGAN
    from ..toggle import ToggleDecision


DEFAULT_BATCH_SIZE = 16
"""Faces per forward pass: the batch of the speed table (`docs/performance.md`)."""
MAX_WAITING_PIXELS = 50_000_000
"""Pixels of the images whose faces wait for a forward pass (about four 12-MP photos, 0.5 GB
with their outputs being built); past this, the faces gathered so far run in a smaller batch."""


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
        list[str] | None,
        typer.Option(
            "--attr",
            "-a",
            metavar="ALIAS[=VALUE]",
            show_default=False,
            help=f"Attribute to edit, a published model: {', '.join(ALIASES)}. Repeat for "
            "several, applied in turn; ALIAS=add, ALIAS=remove or ALIAS=toggle sets its own "
            "value (default: --value).",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        weights_option("Instead of --attr: a Hub repo id (user/name) or a local model folder."),
    ] = None,
    value: Annotated[
        EditValue,
        typer.Option(
            "--value",
            metavar=f"[{'|'.join(EDIT_VALUES)}]",
            case_sensitive=False,
            help="Add the attribute, remove it, or toggle it: the shipped attribute classifier "
            "decides for each face (removes it where it finds it, else adds it).",
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
            "--save-mask",
            help="Also write the attention mask as <output stem>_mask.png (with several "
            "attributes, the union of their masks).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite existing outputs (never an input).")
    ] = False,
    device: DeviceOption = "auto",
    revision: RevisionOption = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            metavar="N",
            min=1,
            help="Faces per forward pass, gathered across files.",
        ),
    ] = DEFAULT_BATCH_SIZE,
    quiet: Annotated[bool, quiet_option("progress bar or file list")] = False,
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
    """Edit attributes in face photos (the default command).

    Each output is the input with the models' edits blended in through their attention masks,
    at the input's full size. By default it is written beside the input as <stem>_<attr>.png
    (<stem>_<attr>_removed.png with --value remove, <stem>_<attr>_toggled.png with toggle; one
    part per attribute, in order, with several); stdin goes to stdout. Inputs are never
    overwritten, existing outputs only with --force. A bad input is reported and skipped; the
    exit status is then 1. What toggle decided for each face is printed on stderr.

    \b
    Examples:
      sagan-edit photo.jpg --attr eyeglasses
      sagan-edit photo.jpg --attr eyeglasses --value remove -o out.jpg --strength 0.6
      sagan-edit photo.jpg --attr eyeglasses --attr smiling=remove
      sagan-edit photo.jpg --attr eyeglasses --value toggle
      sagan-edit photos/ --attr eyeglasses --out-dir edited/ --save-mask
      cat photo.jpg | sagan-edit - --attr eyeglasses > edited.png
    """
    timings = Timings()
    with timings.stage("imports"):  # and the checks: torch loads with the device check
        from ..attributes import attribute_slug

        edits = check_edit_options(inputs, attr, weights, value.value, output, out_dir, save_mask)
        if box is not None and align:
            raise typer.BadParameter(
                "--box gives the face region; it excludes --align", param_hint="'--box'"
            )
        if verbose and quiet:
            raise typer.BadParameter(
                "--verbose and --quiet exclude each other", param_hint="'--verbose'"
            )
        where: dict[str, Any] = {
            "box": parse_box(box), "align": align, "faces": face or None,
            "min_face_size": min_face_size,
        }  # fmt: skip
        check_device(device)
    with timings.stage("model load"):
        models = [load_model(name, device=device, revision=revision) for name, _ in edits]
        values = [v for _, v in edits]
        runner: _FaceBatches | _EachImage
        if len(edits) == 1 and values[0] != EditValue.toggle:
            runner = _FaceBatches(models[0], values[0], strength, batch_size, timings)
        else:
            runner = _EachImage(_editor(models, values), values, strength, batch_size, timings)
    with timings.stage("read"):
        named = [(attribute_slug(m.attribute), v) for m, v in zip(models, values, strict=True)]
        jobs, failures = plan_jobs(inputs, named, output, out_dir, save_mask, force)
    if not jobs and not failures:
        fail("no images to edit")
    if out_dir is not None and jobs:
        out_dir.mkdir(parents=True, exist_ok=True)

    console = stderr_console()
    for message in failures:
        print_error(message, console)
    done = _run_jobs(runner, jobs, where, console, quiet)
    if verbose:
        console.print(timings.line(done, runner.faces_edited), markup=False)
    failed = len(failures) + len(jobs) - done
    total = len(failures) + len(jobs)
    if failed:
        print_error(f"{failed} of {total} input(s) failed; {done} written", console)
        raise typer.Exit(1)
    if total > 1 and not quiet:
        toggled = _toggle_tally(runner.decisions)
        console.print(f"edited {done} image(s){toggled}", markup=False)


# --------------------------------------------------------------------------- editing

_INPUT_ERRORS = (ImageLoadError, InvalidBoxError, NoFaceFoundError, AlignmentUnavailableError)
"""Errors that concern one input: reported, and the other inputs go on."""

_OPTION_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bmin_face_size\b"), "--min-face-size"),
    (re.compile(r"\bbox="), "--box"),
    (re.compile(r"\balign=False\b"), "--no-align"),
    (re.compile(r"\balign=True\b"), "--align"),
)
"""The Python arguments library messages name, and the options that set them here."""
_FACES_ASKED = re.compile(r"\bfaces \[([\d, ]+)\] asked for")


def cli_wording(message: str) -> str:
    """``message`` with the Python arguments it names put as this command's options.

    The library's advice (``lower min_face_size``, ``give the face's box=``, ``align=False``)
    speaks to Python callers; here the same advice is ``--min-face-size``, ``--box``,
    ``--no-align``.
    """
    for pattern, option in _OPTION_WORDS:
        message = pattern.sub(option, message)
    return _FACES_ASKED.sub(
        lambda m: " ".join(f"--face {n.strip()}" for n in m[1].split(",")) + " asked for",
        message,
    )


def _report(job: Job, exc: Exception, console: Console) -> None:
    """Print a bad input's error, in the command line's words, naming stdin where it was read."""
    message = cli_wording(str(exc))
    print_error(message if job.source is not None else f"{job.label}: {message}", console)


def _run_jobs(
    runner: _FaceBatches | _EachImage,
    jobs: list[Job],
    where: dict[str, Any],
    console: Console,
    quiet: bool,
) -> int:
    """Edit and write every job in turn; return how many were written."""
    written = 0
    # A bar only helps a person watching; logs get the per-file lines instead.
    progress = progress_bar(
        "editing", console, disable=quiet or len(jobs) < 2 or not console.is_terminal
    )
    with progress:
        task = progress.add_task("editing", total=len(jobs))
        for job in [*jobs, None]:
            if job is None:  # the end: the last, partial batch
                finished = runner.flush()
            else:
                added = runner.add(job, where, console)
                if added is None:
                    progress.advance(task)
                    continue
                finished = added
            for item in finished:
                written += _write(item, console, quiet, runner.timings)
                progress.advance(task)
    return written


def _write(item: _Waiting | _Edited, console: Console, quiet: bool, timings: Timings) -> bool:
    """Write one finished image (and its mask), reporting it; return whether it was written."""
    job = item.job
    with timings.stage("write"):
        result = item.result()
        written = write_job(job, result, console)
    if written and not quiet:
        if job.output is not None:
            console.print(f"{job.label} -> {job.output}", markup=False)
        for decision in result.decisions:
            console.print(f"{job.label}: {decision}", markup=False)
    return written


@dataclass
class _Waiting:
    """An image whose faces are in the queue: its job and how many faces are not pasted yet."""

    job: Job
    image: PreparedImage
    left: int

    def result(self) -> EditResult:
        """The edited image, once every face is pasted back."""
        return self.image.result()


class _FaceBatches:
    """Gathers the faces of successive images into forward passes of ``batch_size`` faces.

    Images come back, in the order they were added, once all their faces are pasted back.
    """

    def __init__(
        self, model: SaGAN, value: str, strength: float, batch_size: int, timings: Timings
    ) -> None:
        self.model, self.value, self.strength = model, value, strength
        self.batch_size, self.timings = batch_size, timings
        self.waiting: list[_Waiting] = []
        self.queue: list[tuple[_Waiting, int]] = []
        self.faces_edited = 0
        self.decisions: list[ToggleDecision] = []  # add or remove only: none

    def add(self, job: Job, where: dict[str, Any], console: Console) -> list[_Waiting] | None:
        """Read ``job`` and queue its faces; run every full batch; return the images finished.

        A bad input is reported and None returned.
        """
        image = self._prepare(job, where, console)
        if image is None:
            return None
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

    def _prepare(self, job: Job, where: dict[str, Any], console: Console) -> PreparedImage | None:
        """Read one input and find and align its faces; report a bad input and return None."""
        from ..imaging import load_image

        try:
            with self.timings.stage("read"):
                (source,) = load_image(read_input(job))
            with self.timings.stage("detect/align"):
                return self.model.prepare(source, **where)
        except _INPUT_ERRORS as exc:
            _report(job, exc, console)
            return None

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


@dataclass
class _Edited:
    """An image edited for every attribute: its job and result."""

    job: Job
    edited: EditResult

    def result(self) -> EditResult:
        """The edited image."""
        return self.edited


class _EachImage:
    """Edits image after image with an `Editor`: faces found once, the models applied in turn.

    ``--verbose`` counts reading the file, finding and aligning its faces and pasting them back
    in ``edit``: the editor does them all in one call.
    """

    def __init__(
        self,
        editor: Editor,
        values: Sequence[str],
        strength: float,
        batch_size: int,
        timings: Timings,
    ) -> None:
        self.editor, self.strength = editor, strength
        self.edits = dict(zip(editor.attributes, values, strict=True))
        self.batch_size, self.timings = batch_size, timings
        self.faces_edited = 0
        self.decisions: list[ToggleDecision] = []

    def add(self, job: Job, where: dict[str, Any], console: Console) -> list[_Edited] | None:
        """Edit ``job``'s image for every attribute; a bad input is reported and None returned."""
        try:
            with self.timings.stage("read"):
                data = read_input(job)
            with self.timings.stage("edit"):
                result = self.editor.edit(
                    data, self.edits, strength=self.strength, batch_size=self.batch_size, **where
                )
        except _INPUT_ERRORS as exc:
            _report(job, exc, console)
            return None
        assert not isinstance(result, list)
        self.faces_edited += len(result.faces) if result.aligned else 1
        self.decisions += result.decisions
        return [_Edited(job, result)]

    def flush(self) -> list[_Edited]:
        """Nothing waits: each image is written as soon as it is edited."""
        return []


def _editor(models: list[SaGAN], values: Sequence[str]) -> Editor:
    """An `Editor` of ``models``, with the shipped attribute classifier loaded if it will judge."""
    from ..editor import Editor
    from ..toggle import shipped_classifier

    classifier = None
    if EditValue.toggle in values:
        device = str(models[0].device)
        with library_errors(), stderr_console().status("loading the attribute classifier"):
            classifier = shipped_classifier(device)
    with library_errors():
        return Editor(models, classifier=classifier)


def _toggle_tally(decisions: Sequence[ToggleDecision]) -> str:
    """``; toggle: Smiling removed 2, added 1`` for the summary line, or ``""``."""
    counts: dict[str, list[int]] = {}
    for decision in decisions:
        counts.setdefault(decision.attribute, [0, 0])[int(decision.present)] += 1
    parts = [f"{name} removed {n[1]}, added {n[0]}" for name, n in counts.items()]
    return f"; toggle: {'; '.join(parts)}" if parts else ""

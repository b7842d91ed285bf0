"""The ``sagan-edit`` command line: a thin layer over `SaGAN` (``edit``, ``download``).

``sagan-edit photo.jpg --attr smiling`` is short for ``sagan-edit edit photo.jpg --attr smiling``:
`DefaultCommandGroup` sends any first word that is not a command name (or a top-level option) to
``edit``, while ``sagan-edit --help`` still lists every command.

Conventions every command follows (use the helpers below when adding one, e.g. ``train``):

- results (paths, image bytes) go to stdout, everything else (progress, notes, errors) to stderr;
- a bad command line raises `typer.BadParameter` (or another click usage error): exit status 2
  with typer's usage message;
- an expected failure (`sagan_edit.SaGANError`: missing or invalid weights, an unreadable image)
  is one ``error: ...`` line on stderr and exit status 1, never a traceback (`library_errors`,
  `fail`); tracebacks are kept for bugs.

Adding a subcommand is one decorated function in this module::

    @app.command("train")
    def train_command(...) -> None:
        \"\"\"Train a SaGAN model on CelebA.\"\"\"
        with library_errors():
            ...
"""

from __future__ import annotations

import contextlib
import difflib
import io
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import torch
import typer
from PIL import Image
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperGroup

from . import __version__
from .attributes import attribute_slug
from .errors import (
    AlignmentUnavailableError,
    ImageLoadError,
    InvalidBoxError,
    NoFaceFoundError,
    SaGANError,
)
from .fileio import atomic_path
from .hub import PRETRAINED, resolve_alias, resolve_weights_folder
from .model import EditResult, SaGAN, select_device

#: Suffixes of the files taken from a folder given as input (case-insensitive).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: Output suffix -> Pillow format; the output format follows the file name.
OUTPUT_FORMATS: dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
#: Lossy outputs are written at this quality: high enough that the edit, not the codec, shows.
LOSSY_QUALITY = 95
#: Command-line token for stdin (input) or stdout (``-o -``).
STDIO = "-"


class DefaultCommandGroup(TyperGroup):
    """A typer group that runs ``default_command`` when the first word names no command.

    ``sagan-edit photo.jpg --attr smiling`` becomes ``sagan-edit edit photo.jpg --attr smiling``;
    ``sagan-edit --help``/``--version`` and ``sagan-edit download ...`` work as usual. To edit a
    file whose name is a command name, write ``sagan-edit edit download`` or ``./download``.
    """

    default_command: str = "edit"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put the default command's name in front of ``args`` unless they start with a command."""
        if args and self._routes_to_default(ctx, args[0]):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def _routes_to_default(self, ctx: click.Context, token: str) -> bool:
        if token in self.commands:
            return False
        if token.startswith("-") and token != STDIO:
            # Top-level options (--help, --version) stay here; any other option belongs to edit.
            name = token.split("=", 1)[0]
            own = {opt for p in self.get_params(ctx) for opt in (*p.opts, *p.secondary_opts)}
            return name not in own
        if not os.path.exists(token):
            # A misspelt command (`sagan-edit donwload x`) would otherwise read as a missing file.
            close = difflib.get_close_matches(token, list(self.commands), n=1, cutoff=0.75)
            if close:
                ctx.fail(f"no such command or file {token!r}; did you mean {close[0]!r}?")
        return True


app = typer.Typer(
    cls=DefaultCommandGroup,
    name="sagan-edit",
    help=(
        "Edit face attributes in photos with SaGAN "
        "(spatial-attention GAN, Zhang et al., ECCV 2018)."
        "\n\n`sagan-edit photo.jpg --attr smiling` is short for "
        "`sagan-edit edit photo.jpg --attr smiling`."
    ),
    subcommand_metavar="[COMMAND] ARGS...",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --------------------------------------------------------------------------- shared helpers


def stderr_console() -> Console:
    """Return a rich console on stderr (created per call, so it follows redirections in tests)."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def one_line(text: object) -> str:
    """Collapse a message to one line: errors are printed one per line, whatever they hold."""
    return " ".join(str(text).split())


def print_error(message: object, console: Console | None = None) -> None:
    """Print ``error: <message>`` as a single line on stderr."""
    (console or stderr_console()).print(f"error: {one_line(message)}", markup=False)


def fail(message: object) -> NoReturn:
    """Print ``message`` as a one-line error and exit with status 1."""
    print_error(message)
    raise typer.Exit(1)


@contextlib.contextmanager
def library_errors() -> Iterator[None]:
    """Turn a `SaGANError` raised inside the block into a one-line error and exit status 1."""
    try:
        yield
    except SaGANError as exc:
        fail(exc)


def check_device(device: str) -> str:
    """Validate a ``--device`` value (usage error, exit 2, when unknown or unavailable)."""
    try:
        resolved = select_device(device)
    except ValueError as exc:
        raise typer.BadParameter(one_line(exc), param_hint="'--device'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise typer.BadParameter(
            f"CUDA is not available here (torch {torch.__version__}); use --device cpu or auto",
            param_hint="'--device'",
        )
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise typer.BadParameter(
            f"there is no {resolved} here ({torch.cuda.device_count()} CUDA device(s))",
            param_hint="'--device'",
        )
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise typer.BadParameter(
            "Apple MPS is not available here; use --device cpu or auto", param_hint="'--device'"
        )
    return device


def check_data_format(data_format: str | None) -> None:
    """Validate a ``--data-format`` value (usage error, exit 2, when unknown)."""
    from .data import FORMATS

    if data_format is not None and data_format not in FORMATS:
        raise typer.BadParameter(
            f"{data_format!r} is not one of {', '.join(FORMATS)}", param_hint="'--data-format'"
        )


def load_model(name: str, *, device: str = "auto", revision: str | None = None) -> SaGAN:
    """Load weights for a command (alias, repo id or folder); library errors exit with one line."""
    console = stderr_console()
    with (
        library_errors(),
        _quiet_hub_logging(),
        console.status(f"loading weights {name}", spinner="dots"),
    ):
        return SaGAN.from_pretrained(name, device=device, revision=revision)


@contextlib.contextmanager
def _quiet_hub_logging() -> Iterator[None]:
    """Hide huggingface_hub's warnings inside the block, restoring its log level after."""
    # It logs one warning per retry when the Hub is unreachable; the error that follows says all
    # of it in one line, which is the CLI's promise.
    logger = logging.getLogger("huggingface_hub")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _version_callback(show: bool) -> None:
    if show:
        typer.echo(f"sagan-edit {__version__}")
        raise typer.Exit()


@app.callback()
def _main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Edit face attributes in photos with SaGAN."""


# --------------------------------------------------------------------------- edit


class EditValue(str, Enum):
    """Target value of the attribute: ``add`` it or ``remove`` it."""

    add = "add"
    remove = "remove"


@dataclass
class _Job:
    """One input to edit and where its results go."""

    label: str
    """How the input is named in messages (the path as typed, or ``<stdin>``)."""
    source: Path | None
    """The input file; None for stdin."""
    output: Path | None = None
    """The output file; None for stdout."""
    mask: Path | None = None
    """Where ``--save-mask`` writes the mask, else None."""


@app.command("edit")
def edit_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT",
            show_default=False,
            help="Image files, folders (the images directly inside, sorted) or `-` for stdin.",
        ),
    ],
    attr: Annotated[
        str | None,
        typer.Option(
            "--attr",
            "-a",
            help=f"Attribute to edit, a published model: {', '.join(PRETRAINED)}.",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            "-w",
            help="Instead of --attr: a Hub repo id (user/name) or a local model folder.",
        ),
    ] = None,
    value: Annotated[
        EditValue,
        typer.Option("--value", case_sensitive=False, help="Add the attribute or remove it."),
    ] = EditValue.add,
    strength: Annotated[
        float,
        typer.Option(
            "--strength",
            "-s",
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
            help="Square face region to edit, in pixels (default: the centred square).",
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
            min=0,
            help="Edit only face N (0 = leftmost); repeat for several. Default: every face.",
        ),
    ] = None,
    min_face_size: Annotated[
        int,
        typer.Option("--min-face-size", min=1, help="Ignore faces narrower than this (pixels)."),
    ] = 80,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file for a single input (.png, .jpg or .webp), or `-` for stdout (PNG).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", "-d", help="Folder for the outputs (created if needed)."),
    ] = None,
    save_mask: Annotated[
        bool,
        typer.Option(
            "--save-mask", help="Also write the attention mask as `<output stem>_mask.png`."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite existing outputs (never an input).")
    ] = False,
    device: Annotated[
        str,
        typer.Option(
            "--device", help="`auto` (CUDA, then MPS, then CPU), `cpu`, `cuda`, `cuda:1`..."
        ),
    ] = "auto",
    revision: Annotated[
        str | None, typer.Option("--revision", help="Hub branch, tag or commit of the weights.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Images per forward pass.")
    ] = 4,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors only: no progress bar or file list.")
    ] = False,
) -> None:
    """Edit an attribute in face photos (default command: `sagan-edit photo.jpg --attr smiling`).

    Each output is the input with the model's edit blended in through its attention mask, at the
    input's full size. By default it is written beside the input as `<stem>_<attr>.png`
    (`<stem>_<attr>_removed.png` with `--value remove`); stdin goes to stdout. Inputs are never
    overwritten, existing outputs only with `--force`. A bad input is reported and skipped; the
    exit status is then 1.
    """
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
    jobs, failures = _plan_jobs(
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


def _check_edit_options(
    inputs: Sequence[str],
    attr: str | None,
    weights: str | None,
    output: str | None,
    out_dir: Path | None,
    save_mask: bool,
) -> str:
    """Reject impossible combinations before any weights load; return the name of the weights."""
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


def _plan_jobs(
    inputs: Sequence[str],
    slug: str,
    removed: bool,
    output: str | None,
    out_dir: Path | None,
    save_mask: bool,
    force: bool,
) -> tuple[list[_Job], list[str]]:
    """Expand folders and name every output; inputs that cannot be written come back as errors."""
    jobs: list[_Job] = []
    failures: list[str] = []
    seen: set[Path] = set()
    suffix = f"{slug}_removed" if removed else slug
    for item in inputs:
        if item == STDIO:
            jobs.append(_Job("<stdin>", None))
            continue
        path = Path(item)
        if path.is_dir():
            found = _images_in(path, slug)
            if not found:
                failures.append(f"{item}: no images in this folder ({', '.join(IMAGE_EXTENSIONS)})")
            files = found
        else:
            files = [path]
        for file in files:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                jobs.append(_Job(str(file), file))

    input_ids = {_file_id(job.source) for job in jobs if job.source is not None}
    claimed: dict[Path, str] = {}
    planned: list[_Job] = []
    for job in jobs:
        stem = job.source.stem if job.source is not None else "stdin"
        if output == STDIO or (output is None and out_dir is None and job.source is None):
            planned.append(job)  # stdout: nothing on disk to check
            continue
        if output is not None:
            job.output = Path(output)
        else:
            assert job.source is not None or out_dir is not None
            folder = out_dir if out_dir is not None else job.source.parent  # type: ignore[union-attr]
            job.output = folder / f"{stem}_{suffix}.png"
        if save_mask:
            job.mask = job.output.with_name(f"{job.output.stem}_mask.png")
        problem = _output_problem(job, input_ids, claimed, force)
        if problem:
            failures.append(problem)
            continue
        for target in (job.output, job.mask):
            if target is not None:
                claimed[target.resolve()] = job.label
        planned.append(job)
    return planned, failures


def _images_in(folder: Path, slug: str) -> list[Path]:
    """The images directly inside ``folder``, sorted by name, minus outputs for this attribute.

    Outputs written beside their inputs by an earlier run (``*_<slug>[_removed][_mask].png``) are
    left out, so running the same command twice does not edit its own results.
    """
    own = tuple(f"_{slug}{kind}{mask}.png" for kind in ("", "_removed") for mask in ("", "_mask"))
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS
            and not p.name.startswith(".")
            and not p.name.endswith(own)
            and p.is_file()
        ),
        key=lambda p: p.name,
    )


def _file_id(path: Path) -> tuple[int, int]:
    """Identity of an existing file (device, inode): catches links and case-insensitive names."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def _output_problem(
    job: _Job, input_ids: set[tuple[int, int]], claimed: dict[Path, str], force: bool
) -> str | None:
    """Why ``job``'s outputs cannot be written, or None when they can."""
    for target in (job.output, job.mask):
        if target is None:
            continue
        if target.resolve() in claimed:
            return (
                f"{job.label}: its output {target} is also the output for "
                f"{claimed[target.resolve()]}; use --out-dir or rename one"
            )
        if not target.exists():
            continue
        if target.is_dir():
            return f"{job.label}: output {target} is a folder"
        if _file_id(target) in input_ids:
            return f"{job.label}: refusing to overwrite the input {target}; choose another output"
        if not force:
            return f"{job.label}: {target} already exists (pass --force to overwrite it)"
    return None


def _run_jobs(
    model: SaGAN,
    jobs: list[_Job],
    value: str,
    edit_options: dict[str, Any],
    batch_size: int,
    console: Console,
    quiet: bool,
) -> int:
    """Edit and write every job, a few images at a time; return how many were written."""
    written = 0
    progress = Progress(
        TextColumn("editing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        # A bar only helps a person watching; logs get the per-file lines instead.
        disable=quiet or len(jobs) < 2 or not console.is_terminal,
    )
    with progress:
        task = progress.add_task("editing", total=len(jobs))
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start : start + batch_size]
            for job, result in zip(
                batch, _edit_batch(model, batch, value, edit_options, console), strict=True
            ):
                if result is not None and _write_job(job, result, console):
                    written += 1
                    if not quiet and job.output is not None:
                        console.print(f"{job.label} -> {job.output}", markup=False)
                progress.advance(task)
    return written


_INPUT_ERRORS = (ImageLoadError, InvalidBoxError, NoFaceFoundError, AlignmentUnavailableError)
"""Errors that concern one input: reported, and the batch goes on."""


def _edit_batch(
    model: SaGAN, batch: list[_Job], value: str, edit_options: dict[str, Any], console: Console
) -> list[EditResult | None]:
    """Edit a batch; when one image in it is unreadable, edit the others one by one."""
    images: list[Any] = [_read_input(job) for job in batch]
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


def _read_input(job: _Job) -> str | bytes | None:
    if job.source is not None:
        return str(job.source)
    return sys.stdin.buffer.read()


def _write_job(job: _Job, result: EditResult, console: Console) -> bool:
    """Write the edited image (and mask); report a failure as one line and return False."""
    try:
        if job.output is None:
            _write_stdout(result.image)
        else:
            _save(result.image, job.output)
        if job.mask is not None:
            _save(result.mask, job.mask)
    except OSError as exc:
        print_error(f"{job.label}: cannot write the output: {exc}", console)
        return False
    return True


def _save(image: Image.Image, path: Path) -> None:
    """Write ``image`` atomically, in the format its suffix names, keeping its ICC profile."""
    with atomic_path(path) as tmp:
        _encode(image, tmp, OUTPUT_FORMATS[path.suffix.lower()])


def _write_stdout(image: Image.Image) -> None:
    buffer = io.BytesIO()
    _encode(image, buffer, "PNG")
    sys.stdout.flush()  # anything printed as text before must come out first
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()


def _encode(image: Image.Image, target: Path | io.BytesIO, fmt: str) -> None:
    options: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc:
        options["icc_profile"] = icc
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = LOSSY_QUALITY
    if fmt == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")  # JPEG has no alpha channel
    image.save(target, format=fmt, **options)


# --------------------------------------------------------------------------- download


@app.command("download")
def download_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME",
            show_default=False,
            help=f"Aliases ({', '.join(PRETRAINED)}) or Hub repo ids (user/name).",
        ),
    ] = None,
    all_models: Annotated[
        bool, typer.Option("--all", help="Download every published model.")
    ] = False,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Hub branch, tag or commit.")
    ] = None,
) -> None:
    """Fetch weights into the Hugging Face cache ahead of use and print where they are.

    After this, editing works offline (`HF_HUB_OFFLINE=1`). The cache is huggingface_hub's:
    `HF_HOME` or `HF_HUB_CACHE` move it, `HF_ENDPOINT` picks the server, `HF_TOKEN` logs in.
    """
    wanted = list(names or []) + (list(PRETRAINED) if all_models else [])
    if not wanted:
        raise typer.BadParameter("name at least one model, or pass --all", param_hint="NAME")
    console = stderr_console()
    failed = 0
    for name in dict.fromkeys(wanted):
        try:
            with _quiet_hub_logging(), console.status(f"downloading {name}", spinner="dots"):
                folder = resolve_weights_folder(name, revision=revision)
                # Loading proves the files are complete and match their config before use.
                model = SaGAN.from_pretrained(folder, device="cpu")
        except SaGANError as exc:
            print_error(exc, console)
            failed += 1
            continue
        console.print(f"{name}: {model.attribute} model", markup=False)
        typer.echo(str(folder.absolute()))
    if failed:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- train


@app.command("train")
def train_command(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            show_default=False,
            help="Run folder: log.jsonl, samples/, checkpoints/ and the Hub-ready model/.",
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            show_default=False,
            help="Training images: a CelebA or CelebA-HQ folder, a folder of images with a "
            "labels CSV (or the CSV), or a packed folder. Required unless --resume.",
        ),
    ] = None,
    attr: Annotated[
        str | None,
        typer.Option(
            "--attr",
            "-a",
            show_default=False,
            help="Attribute to learn, any spelling (`Eyeglasses`, `mouth_slightly_open`). "
            "Required unless --resume.",
        ),
    ] = None,
    steps: Annotated[
        int, typer.Option("--steps", min=0, help="Generator steps (3 D steps each).")
    ] = 20_000,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Images per batch and process.")
    ] = 16,
    image_size: Annotated[
        int, typer.Option("--image-size", min=8, help="Training resolution (multiple of 8).")
    ] = 128,
    base_channels: Annotated[
        int, typer.Option("--base-channels", min=1, help="First-layer channels of G and D.")
    ] = 32,
    residual_blocks: Annotated[
        int, typer.Option("--residual-blocks", min=0, help="Residual blocks in AMN and SAN.")
    ] = 4,
    disc_layers: Annotated[
        int,
        typer.Option(
            "--disc-layers", min=1, help="Stride-2 layers of D (image size / 2**N must be whole)."
        ),
    ] = 6,
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            help="Generator: attention (SaGAN), or the paper's baselines none (whole image, "
            "as StarGAN) and residual (as ResGAN).",
        ),
    ] = "attention",
    lr: Annotated[
        float, typer.Option("--lr", min=0.0, help="Adam learning rate of G and D.")
    ] = 2e-4,
    lambda_rec_id: Annotated[
        float,
        typer.Option(
            "--lambda-rec-id", min=0.0, help="lambda_2, identity reconstruction (paper: 100)."
        ),
    ] = 100.0,
    lambda_rec_dual: Annotated[
        float,
        typer.Option(
            "--lambda-rec-dual", min=0.0, help="lambda_1, dual reconstruction (paper: 20)."
        ),
    ] = 20.0,
    lambda_sparsity: Annotated[
        float,
        typer.Option(
            "--lambda-sparsity",
            min=0.0,
            help="Residual variant: weight of the L1 penalty on the residual image.",
        ),
    ] = 1.0,
    lr_decay_fraction: Annotated[
        float,
        typer.Option(
            "--lr-decay-fraction",
            min=0.0,
            max=1.0,
            help="Learning rates decay linearly to 0 over this last share of the steps.",
        ),
    ] = 0.5,
    positive_fraction: Annotated[
        float | None,
        typer.Option(
            "--positive-fraction",
            min=0.0,
            max=1.0,
            help="Balanced batches: share of images with the attribute (default: the data's own).",
        ),
    ] = None,
    data_format: Annotated[
        str | None,
        typer.Option(
            "--data-format",
            help="celeba, celebahq, folder or packed (default: recognised from --data).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out from its newest checkpoint; options not given "
            "keep that run's values.",
        ),
    ] = False,
    device: Annotated[
        str, typer.Option("--device", help="`auto` (CUDA, MPS, CPU), `cpu`, `cuda`, `cuda:1`...")
    ] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights and data order.")] = 0,
    precision: Annotated[
        str, typer.Option("--precision", help="fp32, or bf16 autocast (CPU and CUDA).")
    ] = "fp32",
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="Channels-last memory format.")
    ] = False,
    compile_model: Annotated[
        bool, typer.Option("--compile", help="Run G and D through torch.compile.")
    ] = False,
    num_workers: Annotated[
        int, typer.Option("--num-workers", min=0, help="DataLoader worker processes.")
    ] = 0,
    log_every: Annotated[
        int, typer.Option("--log-every", min=1, help="Log (and progress line) every N steps.")
    ] = 10,
    sample_every: Annotated[
        int, typer.Option("--sample-every", min=0, help="Sample grid every N steps (0: at end).")
    ] = 500,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", min=0, help="Checkpoint every N steps (0: at end).")
    ] = 1000,
    push_to_hub: Annotated[
        str | None,
        typer.Option("--push-to-hub", help="Upload the finished model to this Hub repo id."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Train a SaGAN model with the paper's settings (Adam 2e-4, batch 16, 3 D steps per G step).

    Writes `OUT/log.jsonl`, `OUT/samples/`, `OUT/checkpoints/` and, at the end, the Hub-ready
    folder `OUT/model/`, whose path is printed on stdout. Several GPUs: run this command under
    `torchrun --nproc-per-node N` (`--batch-size` is per process).
    """
    import dataclasses
    import json

    from .train import CONFIG_NAME, TrainConfig, find_latest_checkpoint, run_training

    check_data_format(data_format)
    if not resume and (data is None or attr is None):
        raise typer.BadParameter(
            "--data and --attr are required (unless --resume)", param_hint="'--data' / '--attr'"
        )
    if data is not None and not os.path.exists(data):
        raise typer.BadParameter(f"{data!r} does not exist", param_hint="'--data'")
    check_device(device)
    settings: dict[str, Any] = dict(
        attribute=attr, steps=steps, batch_size=batch_size, image_size=image_size,
        base_channels=base_channels, disc_base_channels=base_channels,
        num_residual_blocks=residual_blocks, disc_layers=disc_layers, g_lr=lr, d_lr=lr,
        seed=seed, device=device, precision=precision, channels_last=channels_last,
        compile=compile_model, num_workers=num_workers, log_every=log_every,
        sample_every=sample_every, checkpoint_every=checkpoint_every, data=data,
        data_format=data_format, positive_fraction=positive_fraction,
        lr_decay_fraction=lr_decay_fraction, lambda_rec_id=lambda_rec_id,
        lambda_rec_dual=lambda_rec_dual, variant=variant, lambda_sparsity=lambda_sparsity,
    )  # fmt: skip
    if resume:
        if find_latest_checkpoint(out) is None:
            raise typer.BadParameter(f"{str(out)!r} holds no checkpoint", param_hint="'--resume'")
        saved_file = out / CONFIG_NAME
        if saved_file.is_file():
            saved = json.loads(saved_file.read_text(encoding="utf-8"))
            names = {"attr": ["attribute"], "lr": ["g_lr", "d_lr"], "compile_model": ["compile"],
                     "base_channels": ["base_channels", "disc_base_channels"],
                     "residual_blocks": ["num_residual_blocks"]}  # fmt: skip
            for option in ctx.params:
                source = ctx.get_parameter_source(option)
                if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
                    for key in names.get(option, [option]):
                        if key in saved and key in settings:
                            settings[key] = saved[key]
    elif find_latest_checkpoint(out) is not None:
        raise typer.BadParameter(
            f"{str(out)!r} already holds a run; pass --resume to continue it or choose another "
            "folder",
            param_hint="'--out'",
        )
    try:
        config = TrainConfig(**settings)
    except ValueError as exc:
        raise typer.BadParameter(one_line(exc)) from None
    console = stderr_console()
    if not quiet and os.environ.get("RANK", "0") == "0":  # torchrun: one banner, not one per rank
        shown = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        console.print(
            "training " + ", ".join(f"{k}={v}" for k, v in shown.items() if v not in (None, ())),
            markup=False,
        )
    with library_errors():
        try:
            result = run_training(config, out, resume=resume, push_to_hub=push_to_hub, quiet=quiet)
        except KeyboardInterrupt:
            print_error(f"interrupted; continue with --resume (checkpoints in {out})", console)
            raise typer.Exit(130) from None
    if result.model_dir is not None:
        if push_to_hub and not quiet:
            console.print(f"pushed to the Hub: {push_to_hub}", markup=False)
        typer.echo(str(result.model_dir))


# ---------------------------------------------------------------------------- eval


@app.command("eval")
def eval_command(
    weights: Annotated[
        str,
        typer.Option(
            "--weights",
            "-w",
            show_default=False,
            help="Model to evaluate: an alias, a local folder or a Hub repo id.",
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            show_default=False,
            help="Test images with labels: a CelebA or CelebA-HQ folder, a folder with a labels "
            "CSV, or a pack.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            show_default=False,
            help="Folder for metrics.json, metrics.md and samples.png (created; those files "
            "are replaced).",
        ),
    ],
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Evaluate the first N test images only."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test, train or all.")] = "test",
    data_format: Annotated[
        str | None,
        typer.Option(
            "--data-format", help="celeba, celebahq, folder or packed (default: recognised)."
        ),
    ] = None,
    classifier: Annotated[
        str | None,
        typer.Option(
            "--classifier", help="Judge: a classifier folder or Hub repo id (default: shipped)."
        ),
    ] = None,
    inception: Annotated[
        Path | None,
        typer.Option(
            "--inception",
            help="Local TorchScript Inception file (inception-2015-12-05.pt) for standard FID.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per pass.")] = 32,
    samples: Annotated[
        int, typer.Option("--samples", min=0, help="Rows of the sample grid (0: none).")
    ] = 8,
    device: Annotated[
        str, typer.Option("--device", help="`auto` (CUDA, MPS, CPU), `cpu`, `cuda`...")
    ] = "auto",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
) -> None:
    """Measure a model's edits on a labelled test set (editing accuracy, preservation, FCD...).

    Every test image is edited to the opposite value of the model's attribute; the shipped
    attribute classifier judges the edits. Writes `OUT/metrics.json` (every figure and the
    settings), `OUT/metrics.md` (tables) and `OUT/samples.png`; prints the folder on stdout.
    The figures are defined in the evaluation guide (docs/evaluation.md).
    """
    from .classifier import AttributeClassifier
    from .data import SPLITS, load_dataset
    from .evaluate import SHIPPED_JUDGE, evaluate, load_inception

    check_data_format(data_format)
    if split not in SPLITS:
        raise typer.BadParameter(
            f"{split!r} is not one of {', '.join(SPLITS)}", param_hint="'--split'"
        )
    if not data.exists():
        raise typer.BadParameter(f"{str(data)!r} does not exist", param_hint="'--data'")
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{str(out)!r} is a file, not a folder", param_hint="'--out'")
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
        progress = Progress(
            TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), console=console, disable=quiet or not console.is_terminal,
        )  # fmt: skip
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
        add, remove = report.add, report.remove
        console.print(
            f"{model.attribute}: editing accuracy add {_percent(add.editing_accuracy)} / remove "
            f"{_percent(remove.editing_accuracy)}, attribute preservation "
            f"{_percent(add.attribute_preservation)} / {_percent(remove.attribute_preservation)}"
            f", FCD {_number(report.frechet_classifier_distance)} ({len(dataset)} "
            f"image{'s' if len(dataset) != 1 else ''})",
            markup=False,
        )
    typer.echo(str(out))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``sagan-edit`` command line (the console script's entry point)."""
    app(args=list(argv) if argv is not None else None, prog_name="sagan-edit")


if __name__ == "__main__":
    main()

"""Which files ``sagan-edit edit`` reads and writes: planning the outputs, writing them safely.

`plan_jobs` expands folders into their images and names every output (beside the input, in
``--out-dir`` or ``-o``: ``<stem>_<attr>[_removed|_toggled]...png``, one part per attribute),
refusing to overwrite an input, a file another input writes, or an existing file without
``--force``. `write_job` writes an edited image (and its mask) atomically,
in the format the file name asks for, keeping the input's ICC profile.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import STDIO, print_error

if TYPE_CHECKING:
    from PIL import Image
    from rich.console import Console

    from ..model import EditResult

#: Suffixes of the files taken from a folder given as input (case-insensitive).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: Output suffix -> Pillow format; the output format follows the file name.
OUTPUT_FORMATS: dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
#: Lossy outputs are written at this quality: high enough that the edit, not the codec, shows.
LOSSY_QUALITY = 95
#: What an output's name adds after an attribute for each value (``photo_smiling_removed.png``).
VALUE_SUFFIXES: dict[str, str] = {"add": "", "remove": "_removed", "toggle": "_toggled"}


def output_suffix(edits: Sequence[tuple[str, str]]) -> str:
    """The part of an output's name after ``<stem>_``: ``eyeglasses_smiling_removed``.

    ``edits`` holds (attribute slug, value) pairs in the order they are applied.
    """
    return "_".join(slug + VALUE_SUFFIXES[value] for slug, value in edits)


@dataclass
class Job:
    """One input to edit and where its results go."""

    label: str
    """How the input is named in messages (the path as typed, or ``<stdin>``)."""
    source: Path | None
    """The input file; None for stdin."""
    output: Path | None = None
    """The output file; None for stdout."""
    mask: Path | None = None
    """Where ``--save-mask`` writes the mask, else None."""


# --------------------------------------------------------------------------- planning outputs


def plan_jobs(
    inputs: Sequence[str],
    edits: Sequence[tuple[str, str]],
    output: str | None,
    out_dir: Path | None,
    save_mask: bool,
    force: bool,
) -> tuple[list[Job], list[str]]:
    """Expand folders and name every output; inputs that cannot be written come back as errors.

    ``edits`` holds (attribute slug, value) pairs in the order they are applied.
    """
    slugs = [slug for slug, _ in edits]
    jobs, failures = _expand_inputs(inputs, slugs)
    input_ids = {_file_id(job.source) for job in jobs if job.source is not None}
    suffix = output_suffix(edits)
    claimed: dict[Path, str] = {}
    planned: list[Job] = []
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


def _expand_inputs(inputs: Sequence[str], slugs: Sequence[str]) -> tuple[list[Job], list[str]]:
    """One job per input file (folders expanded, duplicates dropped); empty folders as errors."""
    jobs: list[Job] = []
    failures: list[str] = []
    seen: set[Path] = set()
    for item in inputs:
        if item == STDIO:
            jobs.append(Job("<stdin>", None))
            continue
        path = Path(item)
        if path.is_dir():
            found = _images_in(path, slugs)
            if not found:
                failures.append(f"{item}: no images in this folder ({', '.join(IMAGE_EXTENSIONS)})")
            files = found
        else:
            files = [path]
        for file in files:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                jobs.append(Job(str(file), file))
    return jobs, failures


def _images_in(folder: Path, slugs: Sequence[str]) -> list[Path]:
    """The images directly inside ``folder``, sorted by name, minus outputs for these attributes.

    Outputs written beside their inputs by an earlier run (``*_<slug>[_removed][_mask].png``, a
    name that ends with one of the attributes, whatever came before) are left out, so running
    the same command twice does not edit its own results.
    """
    own = tuple(
        f"_{slug}{kind}{mask}.png"
        for slug in slugs
        for kind in VALUE_SUFFIXES.values()
        for mask in ("", "_mask")
    )
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
    job: Job, input_ids: set[tuple[int, int]], claimed: dict[Path, str], force: bool
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


# --------------------------------------------------------------------------- writing


def read_input(job: Job) -> str | bytes | None:
    """What to decode for ``job``: its file's path, or the bytes read from stdin."""
    if job.source is not None:
        return str(job.source)
    return sys.stdin.buffer.read()


def write_job(job: Job, result: EditResult, console: Console) -> bool:
    """Write the edited image (and mask); report a failure as one line and return False.

    Any failure, the file system's or the encoder's (Pillow raises ValueError, OverflowError...
    for an image its format cannot hold), concerns this input only: no output of it is left
    behind (an image already written when its mask fails is removed) and the batch goes on.
    """
    written: list[Path] = []
    try:
        if job.output is None:
            _write_stdout(result.image)
        else:
            _save(result.image, job.output)
            written.append(job.output)
        if job.mask is not None:
            _save(result.mask, job.mask)
    except Exception as exc:  # noqa: BLE001 - encoders raise many types; each is one line
        for path in written:
            path.unlink(missing_ok=True)
        reason = str(exc) or type(exc).__name__
        print_error(f"{job.label}: cannot write the output: {reason}", console)
        return False
    return True


def _save(image: Image.Image, path: Path) -> None:
    """Write ``image`` atomically, in the format its suffix names, keeping its ICC profile."""
    from ..fileio import atomic_path

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

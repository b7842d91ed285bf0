"""The options of ``sagan-edit edit``: the values ``--value`` takes, and the usage checks.

`check_edit_options` rejects every impossible combination of the command line (inputs, models,
outputs) and `parse_box` reads ``--box``, both before any weights load: a usage error is
exit status 2 and costs no model load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

import typer

from ._common import STDIO
from ._files import OUTPUT_FORMATS


class EditValue(str, Enum):
    """What to do with an attribute: ``add`` it, ``remove`` it, or ``toggle`` it (per face)."""

    add = "add"
    remove = "remove"
    toggle = "toggle"


#: The values ``--value`` and ``--attr ALIAS=VALUE`` take.
EDIT_VALUES: tuple[str, ...] = tuple(v.value for v in EditValue)


def check_edit_options(
    inputs: Sequence[str],
    attrs: Sequence[str] | None,
    weights: str | None,
    value: str,
    output: str | None,
    out_dir: Path | None,
    save_mask: bool,
) -> list[tuple[str, str]]:
    """Reject impossible combinations before any weights load.

    Returns:
        The edits, in order: (name of the weights, value ``add``, ``remove`` or ``toggle``).
    """
    edits = _check_model_choice(attrs, weights, value)
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
    return edits


def _check_model_choice(
    attrs: Sequence[str] | None, weights: str | None, value: str
) -> list[tuple[str, str]]:
    """Exactly one of ``--attr`` (known aliases, each once) and ``--weights``; the edits."""
    if (not attrs) == (weights is None):
        raise typer.BadParameter(
            "pass exactly one of --attr ALIAS (repeatable) or --weights REPO_OR_FOLDER",
            param_hint="'--attr' / '--weights'",
        )
    if weights is not None:
        return [(weights, value)]
    edits: list[tuple[str, str]] = []
    for item in attrs or ():
        alias, chosen = _parse_attr(item, value)
        if any(alias == named for named, _ in edits):
            raise typer.BadParameter(
                f"{alias!r} is named twice; give each attribute once", param_hint="'--attr'"
            )
        edits.append((alias, chosen))
    return edits


def _parse_attr(item: str, value: str) -> tuple[str, str]:
    """Split ``--attr ALIAS[=VALUE]`` into the alias's key and its value (``value`` if bare)."""
    from ..hub import PRETRAINED, alias_key

    name, equals, given = item.partition("=")
    if equals and given.strip().lower() not in EDIT_VALUES:
        raise typer.BadParameter(
            f"{item!r}: the value after = must be {', '.join(EDIT_VALUES[:-1])} or "
            f"{EDIT_VALUES[-1]}, as in --attr {name.strip() or 'eyeglasses'}=remove",
            param_hint="'--attr'",
        )
    alias = alias_key(name)
    if alias is None:
        raise typer.BadParameter(
            f"unknown attribute {name!r}; choose one of {', '.join(PRETRAINED)} "
            "(or pass --weights REPO_OR_FOLDER)",
            param_hint="'--attr'",
        )
    return alias, given.strip().lower() if equals else value


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


def parse_box(box: str | None) -> tuple[int, int, int, int] | None:
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

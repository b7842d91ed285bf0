"""The ``sagan-edit`` command line: a thin layer over the library, one module per command.

- `sagan_edit.cli.edit`: ``sagan-edit edit`` (`SaGAN.edit` on files, folders, stdin), with
  `sagan_edit.cli._files` (which files it reads and writes);
- `sagan_edit.cli.download`: ``sagan-edit download`` (weights into the Hugging Face cache);
- `sagan_edit.cli.train`: ``sagan-edit train`` (`sagan_edit.train.run_training`);
- `sagan_edit.cli.eval`: ``sagan-edit eval`` (`sagan_edit.evaluate.evaluate`);
- `sagan_edit.cli._common`: what they share (stderr console, one-line errors, option checks).

``sagan-edit photo.jpg --attr smiling`` is short for ``sagan-edit edit photo.jpg --attr smiling``:
`DefaultCommandGroup` sends any first word that is not a command name (or a top-level option) to
``edit``, while ``sagan-edit --help`` still lists every command.

Conventions every command follows:

- results (paths, image bytes) go to stdout, everything else (progress, notes, errors) to stderr;
- a bad command line raises `typer.BadParameter` (or another click usage error): exit status 2
  with the usage message;
- an expected failure (`sagan_edit.SaGANError`: missing or invalid weights, an unreadable image)
  is one ``error: ...`` line on stderr and exit status 1, never a traceback (`library_errors`,
  `fail`); tracebacks are kept for bugs;
- ``--help``, ``--version`` and usage errors found while parsing never import torch: a command
  module imports the library (`sagan_edit.model`, `sagan_edit.train`...) inside its function;
- help is laid out by click as plain text (``rich_markup_mode=None``, `PlainHelpCommand`): help
  strings hold no markup, an option's value placeholder is a short ``metavar`` (``N``, ``DIR``,
  ``[a|b]`` for a choice), an argument shows as its metavar (``INPUT...``), and examples in a
  docstring go in a ``\\b`` paragraph, each one runnable as written.

Adding a subcommand is a module with one function and one entry of `COMMANDS` here::

    # sagan_edit/cli/pack.py
    def pack_command(...) -> None:
        \"\"\"Pack a data set for fast training.\"\"\"
        from ..data import pack_dataset
        with library_errors():
            ...

    # below
    COMMANDS = {..., "pack": pack_command}
"""

from __future__ import annotations

import contextlib
import difflib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ._common import STDIO, PlainHelpCommand
from .demo import demo_command
from .download import download_command
from .edit import edit_command
from .eval import eval_command
from .models import models_command
from .train import train_command

__all__ = ["COMMANDS", "DefaultCommandGroup", "app", "main"]


class DefaultCommandGroup(TyperGroup):
    """A typer group that runs ``default_command`` when the first word names no command.

    ``sagan-edit photo.jpg --attr smiling`` becomes ``sagan-edit edit photo.jpg --attr smiling``;
    ``sagan-edit --help``/``--version`` and ``sagan-edit download ...`` work as usual. To edit a
    file whose name is a command name, write ``sagan-edit edit download`` or ``./download``.
    """

    default_command: str = "edit"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Put the default command's name in front of ``args`` unless they start with a command."""
        if args and self._routes_to_default(ctx, args[0]):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def _routes_to_default(self, ctx: Any, token: str) -> bool:
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
        "\n\n'sagan-edit photo.jpg --attr eyeglasses' is short for "
        "'sagan-edit edit photo.jpg --attr eyeglasses'."
    ),
    subcommand_metavar="[COMMAND] ARGS...",
    no_args_is_help=True,
    # Plain help, as click lays it out: an option's value placeholder sits next to its name and
    # a long one moves the description to the next line, so descriptions keep the terminal's
    # width (rich's option tables gave them a narrow last column).
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


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


#: The commands, in the order ``--help`` lists them.
COMMANDS: dict[str, Callable[..., None]] = {
    "edit": edit_command,
    "download": download_command,
    "models": models_command,
    "train": train_command,
    "eval": eval_command,
    "demo": demo_command,
}
for _name, _command in COMMANDS.items():
    app.command(_name, cls=PlainHelpCommand)(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``sagan-edit`` command line (the console script's entry point).

    SIGTERM (``kill``, a job scheduler, torchrun stopping its workers) is handled as Ctrl-C: it
    raises `KeyboardInterrupt`, so atomic writes remove their temporary files and training says
    how to resume, where the default action would kill the process mid-write.
    """
    with _sigterm_as_interrupt():
        app(args=list(argv) if argv is not None else None, prog_name="sagan-edit")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM raise `KeyboardInterrupt` inside the block (main thread, default handler)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield  # someone else handles it (or signals cannot be handled here)
        return
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

"""What every ``sagan-edit`` command shares: stderr output, one-line errors, option checks.

Importing this module must stay cheap: ``--help`` and usage errors import it, and neither may
import torch. Library modules that need it (`sagan_edit.model`, `sagan_edit.hub`,
`sagan_edit.data`...) are imported inside the functions that use them; the few library values
that ``--help`` shows (the model aliases, the data layouts) are spelled out here, and the tests
check that they match the library's.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

from ..errors import SaGANError, WeightsNotFoundError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from ..model import SaGAN

#: Command-line token for stdin (input) or stdout (``-o -``).
STDIO = "-"
#: The model aliases, as `sagan_edit.hub.PRETRAINED` names them (shown by ``--help``).
ALIASES: tuple[str, ...] = ("eyeglasses", "mouth_slightly_open", "smiling", "no_beard")
#: The data layouts, as `sagan_edit.data.FORMATS` names them (shown by ``--help``).
DATA_FORMATS: tuple[str, ...] = ("celeba", "celebahq", "folder", "packed")
#: The evaluation splits, as `sagan_edit.data.SPLITS` names them (``eval --split``).
SPLITS: tuple[str, ...] = ("train", "test", "all")
#: The generator variants, as `sagan_edit.networks.GENERATOR_VARIANTS` names them.
VARIANTS: tuple[str, ...] = ("attention", "none", "residual")
#: The training precisions, as `sagan_edit.train.PRECISIONS` names them.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
#: The training presets, as `sagan_edit.train.PRESETS` names them.
PRESETS: tuple[str, ...] = ("paper", "cpu")


def choices_metavar(choices: Sequence[str]) -> str:
    """The value placeholder of an option that takes one of ``choices``: ``[a|b|c]``."""
    return f"[{'|'.join(choices)}]"


#: ``--device``, for the commands that run a model (checked by `check_device`).
DeviceOption = Annotated[
    str,
    typer.Option(
        "--device", metavar="DEVICE", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1..."
    ),
]
#: ``--data-format``, for the commands that read a data set (checked by `check_data`).
DataFormatOption = Annotated[
    str | None,
    typer.Option(
        "--data-format",
        metavar=choices_metavar(DATA_FORMATS),
        help="Layout of --data (default: recognised from it).",
    ),
]
#: ``--revision``, for the commands that fetch weights from the Hub.
RevisionOption = Annotated[
    str | None,
    typer.Option("--revision", metavar="REV", help="Hub branch, tag or commit of the weights."),
]


def weights_option(help: str, *, metavar: str = "REPO_OR_FOLDER", **settings: Any) -> Any:
    """``-w, --weights``: the model a command loads (its type and default are the command's)."""
    return typer.Option("--weights", "-w", metavar=metavar, help=help, **settings)


def quiet_option(silenced: str) -> Any:
    """``-q, --quiet``: print errors only, without ``silenced`` (``"progress lines"``)."""
    return typer.Option("--quiet", "-q", help=f"Print errors only: no {silenced}.")


def data_option(help: str) -> Any:
    """``--data PATH``: the images a command reads (checked by `check_data`)."""
    return typer.Option("--data", metavar="PATH", show_default=False, help=help)


def out_option(help: str) -> Any:
    """``-o, --out DIR``: the folder a command writes its files into."""
    return typer.Option("--out", "-o", metavar="DIR", show_default=False, help=help)


# --------------------------------------------------------------------------- help layout


class PlainHelpCommand(TyperCommand):
    """A typer command whose help names an argument by its metavar: ``INPUT...``, ``[NAME]...``.

    Typer adds the Python type to an argument (``INPUT <list[str]>``) and puts a required one in
    braces in the usage line (``{INPUT}...``); the metavar and its help already say what to give.
    """

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """The usage line after the command's name: ``[OPTIONS] INPUT...``."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(argument_metavar(param, usage=True))
            else:
                pieces += param.get_usage_pieces(ctx)
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """The Arguments and Options sections, each argument shown as ``INPUT...``."""
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                sections["Arguments"].append((argument_metavar(param), record[1]))
            else:
                sections["Options"].append(record)
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def argument_metavar(param: Any, *, usage: bool = False) -> str:
    """How help names an argument: ``INPUT``, ``INPUT...``; ``[NAME]...`` in the usage line."""
    name = param.metavar or (param.name or "").upper()
    if usage and not param.required:
        name = f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


# --------------------------------------------------------------------------- output and errors


def stderr_console() -> Console:
    """Return a rich console on stderr (created per call, so it follows redirections in tests)."""
    from rich.console import Console

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


def progress_bar(label: str, console: Console, *, disable: bool) -> Progress:
    """A progress bar on ``console`` (stderr): label, bar, done/total, elapsed and remaining."""
    from ..progress import progress_bar as library_progress_bar

    return library_progress_bar(label, console, disable=disable)


# --------------------------------------------------------------------------- shared option checks


def check_device(device: str) -> str:
    """Validate a ``--device`` value (usage error, exit 2, when unknown or unavailable)."""
    import torch

    from ..model import select_device

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


def check_data(data: str | os.PathLike[str] | None, data_format: str | None) -> None:
    """Validate ``--data-format`` (a known layout) and ``--data`` (there, when given).

    Raises:
        typer.BadParameter: A usage error (exit status 2) naming the option.
    """
    from ..data import FORMATS

    if data_format is not None and data_format not in FORMATS:
        raise typer.BadParameter(
            f"{data_format!r} is not one of {', '.join(FORMATS)}", param_hint="'--data-format'"
        )
    if data is not None and not os.path.exists(data):
        raise typer.BadParameter(f"{os.fspath(data)!r} does not exist", param_hint="'--data'")


# --------------------------------------------------------------------------- weights


def load_model(name: str, *, device: str = "auto", revision: str | None = None) -> SaGAN:
    """Load weights for a command (alias, repo id or folder); library errors exit with one line."""
    from ..model import SaGAN

    console = stderr_console()
    try:
        with quiet_hub_logging(), console.status(f"loading weights {name}", spinner="dots"):
            return SaGAN.from_pretrained(name, device=device, revision=revision)
    except WeightsNotFoundError as exc:
        fail(with_weights_hint(exc, name))
    except SaGANError as exc:
        fail(exc)


def with_weights_hint(exc: Exception, name: str) -> str:
    """A `WeightsNotFoundError`'s message; for an alias, with the command line's way around it."""
    from ..hub import resolve_alias

    message = one_line(exc)
    if resolve_alias(name) is None or "--weights" in message:
        return message
    return f"{message} (on the command line: pass a local model folder with --weights PATH)"


@contextlib.contextmanager
def quiet_hub_logging() -> Iterator[None]:
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

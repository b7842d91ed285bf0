"""``sagan-edit download``: fetch weights into the Hugging Face cache and print where they are."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import SaGANError
from ._common import ALIASES, RevisionOption, print_error, quiet_hub_logging, stderr_console


def download_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME",
            show_default=False,
            help=f"Aliases ({', '.join(ALIASES)}) or Hub repo ids (user/name).",
        ),
    ] = None,
    all_models: Annotated[
        bool, typer.Option("--all", help="Download every published model.")
    ] = False,
    revision: RevisionOption = None,
) -> None:
    """Fetch weights into the Hugging Face cache ahead of use.

    Prints the cached folder of each model on stdout; an alias whose model is embedded in the
    package needs no download and prints its folder. After this, editing works offline
    (HF_HUB_OFFLINE=1). The cache is huggingface_hub's: HF_HOME or HF_HUB_CACHE move it,
    HF_ENDPOINT picks the server, HF_TOKEN logs in.
    """
    if not names and not all_models:
        raise typer.BadParameter("name at least one model, or pass --all", param_hint="NAME")
    from ..hub import PRETRAINED, embedded_model_folder, resolve_weights_folder
    from ..model import SaGAN

    wanted = list(names or []) + (list(PRETRAINED) if all_models else [])
    console = stderr_console()
    failed = 0
    for name in dict.fromkeys(wanted):
        embedded = embedded_model_folder(name) if revision is None else None
        if embedded is not None:
            console.print(f"{name}: embedded in the package, nothing to download", markup=False)
            typer.echo(str(embedded))
            continue
        try:
            with quiet_hub_logging(), console.status(f"downloading {name}", spinner="dots"):
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

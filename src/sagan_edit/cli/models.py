"""``sagan-edit models``: list the aliases and where each loads from."""

from __future__ import annotations

import typer


def models_command() -> None:
    """List the models the aliases name: embedded in the package (offline) or on the Hub.

    One line per alias on stdout: the alias, where it loads from, and the embedded folder or the
    Hub repo id. Embedded models need no network; Hub models are downloaded once and cached.
    """
    from ..hub import list_models

    for info in list_models():
        where = str(info.embedded) if info.embedded is not None else info.repo_id
        typer.echo(f"{info.alias:<22}{info.source:<10}{where}")

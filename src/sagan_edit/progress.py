"""The one progress bar of sagan-edit: label, bar, done/total, elapsed, remaining (rich)."""

from __future__ import annotations

from typing import Any


def progress_bar(
    label: str,
    console: Any,
    *,
    disable: bool = False,
    bar_width: int | None = 40,
    trailing: str | None = None,
) -> Any:
    """Return a `rich.progress.Progress` on ``console``; ``trailing`` adds a text column.

    ``trailing`` is a format string over the task's fields (e.g. ``"{task.fields[losses]}"``).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [
        TextColumn(label),
        BarColumn(bar_width=bar_width),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    if trailing is not None:
        columns.append(TextColumn(trailing))
    return Progress(*columns, console=console, disable=disable)

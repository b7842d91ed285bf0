"""``sagan-edit demo``: serve the web demo (`sagan_edit.demo`) on 127.0.0.1."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from ..errors import SaGANError
from ._common import DeviceOption, check_device, fail, library_errors, weights_option

#: As `sagan_edit.demo.INSTALL_LINE` (spelt out here: importing that module loads torch).
INSTALL_LINE = 'pip install "sagan-edit[demo]"'


def demo_command(
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            metavar="N",
            min=1,
            max=65535,
            show_default=False,
            help="Port on 127.0.0.1. Default: the first free one from 7860.",
        ),
    ] = None,
    weights: Annotated[
        list[str] | None,
        weights_option(
            "Also offer this model (a local model folder or a Hub repo id); repeat for "
            "several. Default: the models that load offline (embedded or cached).",
            show_default=False,
        ),
    ] = None,
    device: DeviceOption = "auto",
) -> None:
    """Start the web demo: upload a photo, add, remove or toggle attributes, download.

    Serves a Gradio app on http://127.0.0.1:PORT until Ctrl-C; needs
    pip install "sagan-edit[demo]".

    \b
    sagan-edit demo
    sagan-edit demo --port 8080 --weights runs/smiling/model
    """
    if importlib.util.find_spec("gradio") is None:
        fail(f"the web demo needs Gradio: {INSTALL_LINE}")
    device = check_device(device)
    from ..demo import launch

    with library_errors():
        try:
            launch(port=port, weights=weights or (), device=device)
        except OSError as exc:
            if isinstance(exc, SaGANError):  # weights not found: library_errors says it
                raise
            if port is not None:
                fail(f"cannot serve on 127.0.0.1:{port}: the port is in use; pick another --port N")
            fail(f"cannot serve on 127.0.0.1 ({exc}); pick a free --port N")

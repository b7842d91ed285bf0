"""The web demo: a Gradio app over `sagan_edit.editor.Editor` (``pip install "sagan-edit[demo]"``).

``sagan-edit demo`` (or ``python app.py``, or a Hugging Face Space running ``app.py``) serves a
page where you upload a photo, choose for each attribute whether to add it, remove it, toggle
it (the shipped attribute classifier decides, face by face) or leave it, set the strength with
a slider, and get the photo before and after, the attention mask, and the result as a PNG to
download. Every face is found, aligned, edited and pasted back as `SaGAN.edit` does.

It offers every model it can load without a network: the models embedded in the package, the
published ones already in the Hugging Face cache (``sagan-edit download NAME``), and the model
folders or Hub repos you pass (``--weights``). The page lists the aliases it could not load,
and why.

The app calls one function, `run_edit`, also served as the API endpoint ``/edit``
(``gradio_client.Client(url).predict(photo, strength, *choices, api_name="/edit")``, one choice
per attribute in the order of `DemoModels.attributes`).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps

from .errors import DemoUnavailableError, SaGANError

if TYPE_CHECKING:
    import gradio

    from .editor import Editor, MultiEditResult

__all__ = [
    "CHOICES",
    "INSTALL_LINE",
    "DemoModels",
    "DemoUnavailableError",
    "build_demo",
    "launch",
    "load_demo_models",
    "require_gradio",
    "run_edit",
]

#: How to install what the demo needs.
INSTALL_LINE = 'pip install "sagan-edit[demo]"'
#: What each attribute's control offers; "off" leaves the attribute alone.
CHOICES: tuple[str, ...] = ("off", "add", "remove", "toggle")
DEFAULT_HOST = "127.0.0.1"


def require_gradio() -> None:
    """Check that Gradio can be imported, without importing it.

    Raises:
        DemoUnavailableError: it is not installed; the message gives the install line.
    """
    if importlib.util.find_spec("gradio") is None:
        raise DemoUnavailableError(f"the web demo needs Gradio: {INSTALL_LINE}")


@dataclass
class DemoModels:
    """The models the demo offers, and the published aliases it could not load."""

    editor: Editor
    """One model per attribute."""
    sources: dict[str, str] = field(default_factory=dict)
    """Where each attribute's model came from (an alias, a folder, a Hub repo id)."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Alias -> why it could not be loaded (not embedded and not in the cache, ...)."""

    @property
    def attributes(self) -> list[str]:
        """The attributes offered, in the order of the page's controls and of `run_edit`."""
        return self.editor.attributes


def load_demo_models(
    weights: Sequence[str | os.PathLike[str]] = (),
    *,
    device: str = "auto",
    published: bool = True,
) -> DemoModels:
    """Load every model the demo can offer offline, plus ``weights``.

    Args:
        weights: more models, each a local folder or a Hub repo id; a model for an attribute
            that a published model also edits replaces it.
        device: where the models run (``"auto"``: CUDA, then MPS, then CPU).
        published: also offer the published aliases that load without a network (embedded
            in the package, or in the Hugging Face cache).

    Raises:
        WeightsNotFoundError, InvalidWeightsError: one of ``weights`` cannot be loaded.
        SaGANError: no model at all could be loaded.
    """
    from .editor import Editor
    from .hub import list_models
    from .model import SaGAN

    models: dict[str, SaGAN] = {}
    sources: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    if published:
        for info in list_models():
            try:
                model = SaGAN.from_pretrained(info.alias, local_files_only=True, device=device)
            except SaGANError as exc:
                unavailable[info.alias] = _one_line(exc)
                continue
            models[model.attribute] = model
            sources[model.attribute] = "embedded" if info.embedded else f"cached {info.repo_id}"
    for name in weights:
        model = SaGAN.from_pretrained(name, device=device)
        models.pop(model.attribute, None)
        models[model.attribute] = model
        sources[model.attribute] = os.fspath(name)
    if not models:
        reasons = "; ".join(f"{a}: {r}" for a, r in unavailable.items()) or "none asked for"
        raise SaGANError(f"the demo has no model to offer ({reasons})")
    return DemoModels(Editor(list(models.values())), sources, unavailable)


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def run_edit(
    models: DemoModels,
    image: Image.Image | str | None,
    strength: float,
    choices: Sequence[str],
    out_dir: str | os.PathLike[str] | None = None,
) -> tuple[tuple[Image.Image, Image.Image], Image.Image, Image.Image, str, str]:
    """Edit one uploaded photo as the page asks; what the ``Edit`` button runs.

    Args:
        models: the models offered (`load_demo_models`).
        image: the photo (a PIL image or a path).
        strength: in [0, 1], scales every attention mask.
        choices: one of `CHOICES` per attribute, in the order of ``models.attributes``.
        out_dir: where to write the PNG to download (default: a temporary folder).

    Returns:
        (before, after) images, a close-up of the faces (`face_closeups`), the mask, the path
        of the result PNG, and a Markdown report of what was done (with the toggle decisions).

    Raises:
        ValueError, SaGANError: no photo, no attribute chosen, no face found... (one line).
    """
    if image is None:
        raise ValueError("upload a photo first")
    if len(choices) != len(models.attributes):
        raise ValueError(
            f"{len(choices)} choice(s) for {len(models.attributes)} attribute(s) "
            f"({', '.join(models.attributes)})"
        )
    unknown = [c for c in choices if c not in CHOICES]
    if unknown:
        raise ValueError(f"choices must be among {', '.join(CHOICES)}; got {unknown[0]!r}")
    edits = {a: c for a, c in zip(models.attributes, choices, strict=True) if c != "off"}
    if not edits:
        raise ValueError("choose add, remove or toggle for at least one attribute")
    before = ImageOps.exif_transpose(Image.open(image) if isinstance(image, str) else image)
    result = models.editor.edit(before, edits, strength=float(strength))
    assert not isinstance(result, list)
    folder = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="sagan-"))
    folder.mkdir(parents=True, exist_ok=True)
    stem = "_".join(f"{a.lower()}-{v}" for a, v in result.values.items())
    path = folder / f"edited_{stem}.png"
    result.image.save(path)
    closeups = face_closeups(before, result)
    return (before, result.image), closeups, result.mask, str(path), describe(result)


def face_closeups(before: Image.Image, result: MultiEditResult, height: int = 256) -> Image.Image:
    """Each edited face before and after, side by side, one row per face (``height`` px each).

    A face's region is its detector box widened by 60 % on each side (the whole image for an
    edited crop), so that a small face's edit can be seen.
    """
    source, after = before.convert("RGB"), result.image.convert("RGB")
    width, full_height = after.size
    regions = [(0, 0, width, full_height)]
    if result.aligned and result.faces:
        regions = []
        for face in result.faces:
            left, top, right, bottom = face.box
            pad = 0.6 * max(right - left, bottom - top)
            box = (left - pad, top - pad, right + pad, bottom + pad)
            regions.append((max(0, int(box[0])), max(0, int(box[1])),
                            min(width, int(box[2])), min(full_height, int(box[3]))))  # fmt: skip
    rows = []
    for region in regions:
        pair = [image.crop(region) for image in (source, after)]
        side = max(1, round(height * pair[0].width / max(1, pair[0].height)))
        pair = [p.resize((side, height), Image.Resampling.LANCZOS) for p in pair]
        row = Image.new("RGB", (2 * side + 8, height), (255, 255, 255))
        row.paste(pair[0], (0, 0))
        row.paste(pair[1], (side + 8, 0))
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), len(rows) * (height + 8) - 8), "white")
    for n, row in enumerate(rows):
        sheet.paste(row, (0, n * (height + 8)))
    return sheet


def describe(result: MultiEditResult) -> str:
    """A short Markdown report: what was applied, to how many faces, and each toggle decision."""
    faces = len(result.faces) if result.aligned else 1
    where = f"{faces} face{'s' if faces != 1 else ''}" if result.aligned else "the face crop"
    lines = [
        f"Edited {where}: "
        + ", ".join(f"{a.replace('_', ' ')} {v}" for a, v in result.values.items())
        + "."
    ]
    lines += [f"- {decision}" for decision in result.decisions]
    return "\n".join(lines)


def _models_note(models: DemoModels) -> str:
    offered = ", ".join(f"{a.replace('_', ' ')} ({models.sources[a]})" for a in models.attributes)
    note = f"**Models:** {offered}."
    if models.unavailable:
        missing = ", ".join(models.unavailable)
        note += (
            f" Not available here: {missing} (no weights embedded or cached; "
            "`sagan-edit download NAME` while online, or `sagan-edit demo --weights FOLDER`)."
        )
    return note


def build_demo(
    models: DemoModels | None = None,
    *,
    examples: Sequence[str | os.PathLike[str]] = (),
    title: str = "SaGAN face attribute editing",
) -> gradio.Blocks:
    """Build the Gradio app (not started: call ``.launch()``, or use `launch`).

    Args:
        models: what to offer (default: `load_demo_models()`).
        examples: photos shown as clickable examples.
        title: the page's title.

    Raises:
        DemoUnavailableError: Gradio is not installed.
    """
    require_gradio()
    import gradio as gr

    models = models or load_demo_models()
    out_dir = tempfile.mkdtemp(prefix="sagan-demo-")
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\n\nUpload a photo with a face, choose what to do with each attribute, "
            "and press **Edit**. Only the pixels under each model's attention mask change."
        )
        with gr.Row():
            with gr.Column():
                photo = gr.Image(
                    type="pil", label="Photo", sources=["upload", "clipboard"], elem_id="photo"
                )
                controls = [
                    gr.Radio(
                        list(CHOICES),
                        value="add" if n == 0 else "off",
                        label=attribute.replace("_", " "),
                        elem_id=f"attr-{attribute.lower()}",
                    )
                    for n, attribute in enumerate(models.attributes)
                ]
                strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Strength",
                                     elem_id="strength")  # fmt: skip
                button = gr.Button("Edit", variant="primary", elem_id="edit-button")
                if examples:
                    gr.Examples([[os.fspath(e)] for e in examples], inputs=[photo])
            with gr.Column():
                compare = gr.ImageSlider(
                    label="Before / after", type="pil", format="png", elem_id="result"
                )
                closeup = gr.Image(
                    label="Faces: before | after", type="pil", format="png", elem_id="closeup"
                )
                mask = gr.Image(
                    label="Attention mask", type="pil", format="png", height=320, elem_id="mask"
                )
                download = gr.File(label="Download the result (PNG)", elem_id="download")
                report = gr.Markdown(elem_id="report")
        gr.Markdown(_models_note(models), elem_id="models")

        def on_edit(image: Image.Image | None, strength: float, *chosen: str) -> tuple[Any, ...]:
            try:
                return run_edit(models, image, strength, chosen, out_dir)
            except (SaGANError, ValueError) as exc:
                raise gr.Error(_one_line(exc)) from None

        button.click(
            on_edit,
            inputs=[photo, strength, *controls],
            outputs=[compare, closeup, mask, download, report],
            api_name="edit",
        )
    return demo


def launch(
    *,
    port: int | None = None,
    host: str = DEFAULT_HOST,
    weights: Sequence[str | os.PathLike[str]] = (),
    device: str = "auto",
    examples: Sequence[str | os.PathLike[str]] = (),
    **launch_kwargs: Any,
) -> None:
    """Load the models, build the app and serve it on ``host:port`` until interrupted.

    ``port`` None takes the first free port from 7860. ``launch_kwargs`` go to Gradio's
    ``Blocks.launch`` (e.g. ``prevent_thread_lock=True`` to return at once).

    Raises:
        DemoUnavailableError: Gradio is not installed.
        OSError: the port is taken.
    """
    require_gradio()
    prepare_environment()
    demo = build_demo(load_demo_models(weights, device=device), examples=examples)
    demo.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, share=False, inbrowser=False, **launch_kwargs
    )


def prepare_environment() -> None:
    """Keep Gradio offline and local: no analytics calls, no proxy for the local server."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        for local in ("127.0.0.1", "localhost"):
            if local not in hosts:
                hosts.append(local)
        os.environ[name] = ",".join(hosts)

"""The ``README.md`` model card written beside saved weights, with Hugging Face Hub front matter."""

from __future__ import annotations

import json
from typing import Any

from .attributes import attribute_slug
from .config import SaGANConfig
from .hub import LIBRARY_NAME

PAPER_TITLE = (
    "Generative Adversarial Network with Spatial Attention for Face Attribute Editing (ECCV 2018)"
)
CITATION = """@inproceedings{zhang2018sagan,
  title     = {Generative Adversarial Network with Spatial Attention for Face Attribute Editing},
  author    = {Zhang, Gang and Kan, Meina and Shan, Shiguang and Chen, Xilin},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year      = {2018}
}"""


def _yaml_scalar(value: Any) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def render_model_card(config: SaGANConfig) -> str:
    """Return a model card for ``config``: Hub front matter, usage, training facts and citation.

    Facts about training come from ``config.extra`` (the trainer fills it): keys ``license``,
    ``datasets``, ``description``, ``training`` and ``evaluation`` (flat dicts shown as tables;
    `sagan_edit.evaluate.EvaluationReport.summary` gives the latter).
    """
    extra = config.extra
    slug = attribute_slug(config.attribute)
    license_id = extra.get("license", "other")
    tags = ["sagan-edit", "sagan", "gan", "face-attribute-editing", "image-to-image", slug]
    lines = ["---", f"library_name: {LIBRARY_NAME}", f"license: {_yaml_scalar(license_id)}"]
    if license_id == "other":
        lines.append(f"license_name: {_yaml_scalar(extra.get('license_name', 'see-model-card'))}")
    lines.append("pipeline_tag: image-to-image")
    lines.append("tags:")
    lines += [f"- {_yaml_scalar(tag)}" for tag in tags]
    if extra.get("datasets"):
        lines.append("datasets:")
        lines += [f"- {_yaml_scalar(d)}" for d in extra["datasets"]]
    lines += [
        "attribute: " + _yaml_scalar(config.attribute),
        "paper: " + _yaml_scalar(PAPER_TITLE),
        "---",
        "",
        f"# SaGAN — {config.attribute}",
        "",
        "A face-attribute editor for the CelebA attribute "
        f"**{config.attribute}**, built with [sagan-edit](https://pypi.org/project/sagan-edit/): "
        "SaGAN, *Generative Adversarial Network with Spatial Attention for Face Attribute "
        "Editing* (Zhang, Kan, Shan and Chen, ECCV 2018). A spatial "
        "attention network chooses where to edit, so pixels outside its mask stay as they were.",
        "",
    ]
    if extra.get("description"):
        lines += [str(extra["description"]), ""]
    lines += [
        "## Use",
        "",
        "```python",
        "from sagan_edit import SaGAN",
        "",
        'model = SaGAN.from_pretrained("REPO_OR_FOLDER")',
        'result = model.edit("face.jpg", value=True)   # True adds the attribute, False removes it',
        'result.image.save("edited.png")',
        "```",
        "",
        "or `sagan-edit face.jpg --weights REPO_OR_FOLDER`.",
        "",
        "## Model",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| attribute | {config.attribute} |",
        f"| image size | {config.image_size} |",
        f"| generator base channels | {config.base_channels} |",
        f"| residual blocks | {config.num_residual_blocks} |",
        f"| generator variant | {config.variant} |",
        f"| face template (eyes, nose) | {config.face_template or 'CelebA-HQ (default)'} |",
        "",
    ]
    training = extra.get("training")
    if training:
        lines += ["## Training", "", "| setting | value |", "| --- | --- |"]
        lines += [f"| {key} | {value} |" for key, value in training.items()]
        lines.append("")
    evaluation = extra.get("evaluation")
    if evaluation:
        lines += [
            "## Evaluation",
            "",
            "Measured with `sagan-edit eval` (definitions: sagan-edit's evaluation guide).",
            "",
            "| metric | value |",
            "| --- | --- |",
        ]
        lines += [f"| {key} | {value} |" for key, value in evaluation.items()]
        lines.append("")
    lines += ["## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)

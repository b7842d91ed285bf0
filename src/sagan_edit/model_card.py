"""The ``README.md`` model card written beside saved weights, with Hugging Face Hub front matter.

`training_summary` gathers what a training run did (the card's "Training" table, its description
and front matter); `render_model_card` writes the card.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from .attributes import attribute_slug
from .config import SaGANConfig
from .hub import LIBRARY_NAME

__all__ = ["render_model_card", "training_summary"]

#: Final losses shown in the card's training table, when the run logged them.
FINAL_METRICS = (
    "D/loss_real",
    "D/loss_fake",
    "D/loss_gp",
    "D/loss_cls",
    "G/loss_fake",
    "G/loss_cls",
    "G/loss_rec_dual",
    "G/loss_rec_id",
    "G/mask_mean",
    "G/loss_sparsity",
)

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
    `sagan_edit.evaluate.EvaluationReport.summary` gives the latter); ``alias``, for a model
    that ships inside the package, names it in the usage example.
    """
    extra = config.extra
    license_id = extra.get("license", "other")
    lines = _front_matter(config, license_id)
    lines += _introduction(config)
    lines += _usage(extra.get("alias"))
    lines += _model_settings(config)
    if extra.get("training"):
        lines += _table("Training", "setting", extra["training"])
    if extra.get("evaluation"):
        intro = "Measured with `sagan-edit eval` (definitions: sagan-edit's evaluation guide)."
        lines += _table("Evaluation", "metric", extra["evaluation"], intro=intro)
    lines += _limitations_and_licence(license_id, extra.get("datasets") or [])
    lines += ["## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


def _front_matter(config: SaGANConfig, license_id: str) -> list[str]:
    """The YAML block the Hub reads: library, licence, pipeline, tags, data sets, paper."""
    extra = config.extra
    slug = attribute_slug(config.attribute)
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
    return lines + [
        "attribute: " + _yaml_scalar(config.attribute),
        "paper: " + _yaml_scalar(PAPER_TITLE),
        "---",
        "",
    ]


def _introduction(config: SaGANConfig) -> list[str]:
    """The title and what the model is; an untrained model says so; the run's description."""
    extra = config.extra
    lines = [
        f"# SaGAN — {config.attribute}",
        "",
        "A face-attribute editor for the CelebA attribute "
        f"**{config.attribute}**, built with [sagan-edit](https://pypi.org/project/sagan-edit/): "
        "SaGAN, *Generative Adversarial Network with Spatial Attention for Face Attribute "
        "Editing* (Zhang, Kan, Shan and Chen, ECCV 2018). A spatial "
        "attention network chooses where to edit, so pixels outside its mask stay as they were.",
        "",
    ]
    if not extra.get("training"):
        lines += [UNTRAINED_NOTE, ""]
    if extra.get("description"):
        lines += [str(extra["description"]), ""]
    return lines


def _usage(alias: str | None) -> list[str]:
    """The "Use" section: loading the model in Python, and the command line."""
    # a model shipped under an alias names it; any other is loaded from its repo or folder
    name = alias or "REPO_OR_FOLDER"
    command = f"--weights {name}`"
    if alias:
        command = f"--attr {name}` (this model ships inside the package)"
    return [
        "## Use",
        "",
        "```python",
        "from sagan_edit import SaGAN",
        "",
        f'model = SaGAN.from_pretrained("{name}")',
        'result = model.edit("face.jpg", value=True)  # True adds the attribute, False removes it',
        'result.image.save("edited.png")',
        "```",
        "",
        f"or `sagan-edit face.jpg {command}.",
        "",
    ]


def _model_settings(config: SaGANConfig) -> list[str]:
    """The "Model" section: the settings that rebuild the networks."""
    return [
        "## Model",
        "",
        "| setting | value |",
        "| --- | --- |",
        f"| attribute | {config.attribute} |",
        f"| image size | {config.image_size} |",
        f"| generator base channels | {config.base_channels} |",
        f"| residual blocks | {config.num_residual_blocks} ({config.residual_norm} norm) |",
        f"| attribute input | {config.attribute_input} |",
        f"| generator variant | {config.variant} |",
        f"| face template (eyes, nose) | {config.face_template or 'CelebA-HQ (default)'} |",
        "",
    ]


def _table(title: str, key_header: str, rows: Mapping[str, Any], *, intro: str = "") -> list[str]:
    """A section holding a two-column table of ``rows`` (``key_header`` | value)."""
    lines = [f"## {title}", ""]
    if intro:
        lines += [intro, ""]
    lines += [f"| {key_header} | value |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in rows.items()]
    return lines + [""]


UNTRAINED_NOTE = (
    '**This model is untrained:** its weights are random, so its "edits" are meaningless. '
    "It exists to try the pipeline (loading, alignment, paste-back), not to edit faces."
)


def _limitations_and_licence(license_id: str, datasets: list[str]) -> list[str]:
    """The card's "Intended uses and limitations" and "Licence" sections."""
    celeba = any("celeba" in str(d).lower() for d in datasets)
    licence = [
        "## Licence",
        "",
        f"The weights: `{license_id}`. sagan-edit's code is MIT.",
    ]
    if celeba:
        licence[-1] += (
            " These weights were trained on CelebA / CelebA-HQ, which are available for "
            "non-commercial research purposes only and may not be redistributed; the weights "
            "inherit that restriction: use them for non-commercial research only."
        )
    return [
        "## Intended uses and limitations",
        "",
        "- **Intended:** research and teaching on face attribute editing, and editing photos of "
        "people who agreed to it.",
        "- **Not for:** deceiving people, impersonation, harassment, sexualised or other "
        "non-consensual imagery of real people, or any decision about a person (identity, "
        "hiring, credit, policing). Edited photos should be labelled as edited.",
        "- **Data skew:** CelebA's faces are celebrities, mostly young and light-skinned, "
        "photographed in a narrow range of poses; its attribute labels are noisy. Expect worse "
        "edits on other faces, and check results on the people you care about.",
        "- **Faces found:** photos are aligned by dlib's detectors, which find roughly frontal "
        "faces best; strongly turned, occluded or very small faces may be missed (then nothing "
        "is edited) or edited poorly.",
        "- **Resolution:** the edit is computed at the model's image size and resampled to "
        "the photo's, so detail inside the mask comes from that size.",
        "",
        *licence,
        "",
    ]


def training_summary(
    settings: Mapping[str, Any],
    *,
    steps: int,
    images: int,
    data: str,
    data_format: str,
    world_size: int,
    precision: str,
    channels_last: bool,
    device_type: str,
    metrics: Mapping[str, float],
) -> dict[str, Any]:
    """Return the ``config.extra`` of a trained model: what its training run actually did.

    Args:
        settings: The run's settings by flat name (`sagan_edit.train.TrainConfig.settings`).
        steps: Generator steps done.
        images: Training images.
        data: Where they came from (a path or a name).
        data_format: Their layout (``celebahq``, ``folder``, ..., ``custom``).
        world_size: Processes that trained together (``batch_size`` is per process).
        precision: The precision in use (``fp32`` or ``bf16``).
        channels_last: Whether the channels-last memory format was used.
        device_type: ``cpu``, ``cuda``, ...
        metrics: The last log window's means; `FINAL_METRICS` among them are shown.

    Returns:
        ``description``, ``datasets``, ``license`` and ``training`` (a flat dict of strings and
        numbers, shown by `render_model_card` as a table).
    """
    cfg = SimpleNamespace(**settings)
    global_batch = cfg.batch_size * world_size
    warm_up = cfg.lambda_rec_id_start is not None and cfg.lambda_rec_id_warmup > 0
    training: dict[str, Any] = {
        "trainer": "sagan-edit (sagan_edit.train)",
        "data": data,
        "data format": data_format,
        "split": cfg.split,
        "training images": images,
        "generator steps": steps,
        "discriminator steps": steps * cfg.n_critic,
        "batch size": f"{global_batch} ({cfg.batch_size} x {world_size} processes)"
        if world_size > 1
        else global_batch,
        "optimizer": f"Adam, lr G {cfg.g_lr:g} / D {cfg.d_lr:g}, betas ({cfg.beta1}, {cfg.beta2})",
        "lr schedule": f"constant, then linear decay to 0 over the last "
        f"{cfg.lr_decay_fraction:.0%} of {cfg.steps} steps"
        if cfg.lr_decay_fraction > 0
        else "constant",
        "D updates per G update": cfg.n_critic,
        "discriminator": (
            f"{cfg.disc_layers} stride-2 layers, {cfg.disc_base_channels} base channels"
        ),
        "lambda_gp / lambda_cls / lambda_1 (dual) / lambda_2 (identity)": (
            f"{cfg.lambda_gp:g} / {cfg.lambda_cls:g} / {cfg.lambda_rec_dual:g} / "
            f"{cfg.lambda_rec_id:g}"
        ),
        **(
            {
                "lambda_2 warm-up": f"{cfg.lambda_rec_id_start:g} rising linearly to "
                f"{cfg.lambda_rec_id:g} over the first {cfg.lambda_rec_id_warmup} steps"
            }
            if warm_up
            else {}
        ),
        **(
            {
                "attribute warm-up": f"{cfg.cls_warmup_steps} D steps on the attribute loss "
                "alone before the first G step"
            }
            if cfg.cls_warmup_steps
            else {}
        ),
        **(
            {"generator weights": f"moving average of G's weights, decay {cfg.ema_decay:g}"}
            if cfg.ema_decay
            else {}
        ),
        "generator variant": cfg.variant,
        **({"lambda_sparsity": cfg.lambda_sparsity} if cfg.variant == "residual" else {}),
        "batches": f"balanced, {cfg.positive_fraction:.0%} with the attribute"
        if cfg.positive_fraction is not None
        else "passes over the data in random order",
        "random flips": cfg.flip,
        "precision": precision,
        "channels last": channels_last,
        "device": f"{device_type} x {world_size}",
        "seed": cfg.seed,
    }
    for key in FINAL_METRICS:
        if key in metrics:
            training[f"final {key}"] = round(metrics[key], 4)
    description = cfg.description or (
        f"Trained with sagan-edit's trainer for {steps} generator steps at batch "
        f"{global_batch} on {data} ({cfg.split} split, "
        f"{images} images) at {cfg.image_size}x{cfg.image_size}."
    )
    return {
        "description": description,
        "datasets": list(cfg.datasets),
        "license": cfg.license,
        "training": training,
    }

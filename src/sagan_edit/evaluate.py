"""Evaluation: how good a model's edits are, measured the same way every time.

`evaluate` edits every test image to the opposite value of the model's attribute and measures
(definitions in the evaluation guide, docs/evaluation.md): **editing accuracy** per direction,
judged by the independent `AttributeClassifier` (beside the judge's own accuracy on the inputs);
**attribute preservation** (the other attributes' predictions unchanged); **pixel preservation**
(mean change and pooled PSNR, whole image and outside a fixed box around the attribute's place,
`attribute_region`, taken from the data's face template, not the model's mask); **mask
statistics**; **realism** (Fréchet distances, `sagan_edit.frechet`); and **reconstruction** PSNR
of ``G(I, c_g)``. Images are compared as 8-bit pixels, what a user saves. `EvaluationReport`
holds every figure; ``save`` writes ``metrics.json``, ``metrics.md`` and a sample grid.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .align import CELEBAHQ_TEMPLATE, LAYOUT_TEMPLATES
from .attributes import canonical_attribute
from .classifier import AttributeClassifier
from .errors import EvaluationError
from .fileio import atomic_write_bytes
from .frechet import FrechetStats, frechet_distance, load_inception
from .model import SaGAN

__all__ = [
    "ATTRIBUTE_REGIONS",
    "EvaluationReport",
    "FrechetStats",
    "attribute_region",
    "evaluate",
    "frechet_distance",
    "load_inception",
]

SHIPPED_JUDGE = "sagan-edit attribute classifier (shipped)"
"""How the settings name the default judge."""

#: Boxes around an attribute's place on an aligned face, in units of the face template: with the
#: eye centres' midpoint (cx, cy) and their distance d, a box is
#: ``(cx + x0*d, cy + y0*d, cx + x1*d, cy + y1*d)``. Set from dlib's 68 landmarks on 495
#: CelebA-HQ training faces (``scripts/measure_face_regions.py``; 2nd-98th percentiles): brows
#: x -1.04..+1.05, y -0.51..-0.08; mouth x -0.60..+0.60, y +0.76..+1.61; jaw below the mouth
#: x -1.02..+1.03, y +1.11..+2.27. The eye box spans the brows plus a spectacle frame's margin,
#: down to the nose's middle; the mouth box adds 0.1 d around the mouth, 0.25 d more at the sides
#: for a smile; the lower face runs from beside the nose to the chin.
REGION_BOXES: dict[str, tuple[float, float, float, float]] = {
    "eyes": (-1.25, -0.55, 1.25, 0.55),
    "mouth": (-0.85, 0.65, 0.85, 1.7),
    "lower face": (-1.15, 0.6, 1.15, 2.3),
}
#: The region of each attribute that has one (the paper's four and their neighbours).
ATTRIBUTE_REGIONS: dict[str, str] = {
    "Eyeglasses": "eyes",
    "Bags_Under_Eyes": "eyes",
    "Mouth_Slightly_Open": "mouth",
    "Smiling": "mouth",
    "No_Beard": "lower face",
    "Goatee": "lower face",
    "Mustache": "lower face",
    "5_o_Clock_Shadow": "lower face",
}


def attribute_region(
    attribute: str, template: Sequence[Sequence[float]] | None = None
) -> tuple[float, float, float, float] | None:
    """Return the attribute's box ``(left, top, right, bottom)`` as fractions of the crop side.

    ``template``: the eye centres and nose of the aligned data (`sagan_edit.align`; default
    CelebA-HQ's). None for attributes without a fixed place (``"Male"``).
    """
    region = ATTRIBUTE_REGIONS.get(canonical_attribute(attribute))
    if region is None:
        return None
    (rx, ry), (lx, ly), _ = template or CELEBAHQ_TEMPLATE
    cx, cy, d = (rx + lx) / 2, (ry + ly) / 2, math.hypot(lx - rx, ly - ry)
    x0, y0, x1, y1 = REGION_BOXES[region]
    clip = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
    return clip(cx + x0 * d), clip(cy + y0 * d), clip(cx + x1 * d), clip(cy + y1 * d)


def region_mask(box: tuple[float, float, float, float], size: int) -> Tensor:
    """Return a (size, size) bool mask of the pixels whose centres lie inside ``box``."""
    centres = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    inside_x = (centres >= box[0]) & (centres < box[2])
    inside_y = (centres >= box[1]) & (centres < box[3])
    return inside_y[:, None] & inside_x[None, :]


# ------------------------------------------------------------------------------- the report


@dataclass
class DirectionMetrics:
    """Figures for one direction of editing (adding or removing the attribute)."""

    images: int = 0
    """Test images edited in this direction."""
    editing_accuracy: float | None = None
    """Share of edits the judge finds with the target value."""
    judge_accuracy_on_inputs: float | None = None
    """The judge's accuracy on the same images before editing (its ceiling)."""
    attribute_preservation: float | None = None
    """Share of the other attributes whose predicted value does not flip."""
    mean_abs_change: float | None = None
    """Mean |edit - input| over every pixel and channel, in 8-bit levels."""
    psnr: float | None = None
    """PSNR of the edit against the input, whole image, dB (None: identical)."""
    mean_abs_change_outside: float | None = None
    """Mean |edit - input| outside the attribute's box, 8-bit levels."""
    psnr_outside: float | None = None
    """PSNR outside the attribute's box, dB (None: identical there)."""
    mask_mean: float | None = None
    """Mean attention mask value (soft area share); None without attention."""
    mask_area_above_half: float | None = None
    """Share of pixels whose mask exceeds 0.5."""
    mask_mass_inside_box: float | None = None
    """Share of the mask's total mass inside the attribute's box."""


#: The per-direction figures of a report: (label, `DirectionMetrics` field, format).
DIRECTION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("images", "images", "{:d}"),
    ("editing accuracy (judge)", "editing_accuracy", "{:.1%}"),
    ("judge accuracy on the inputs", "judge_accuracy_on_inputs", "{:.1%}"),
    ("attribute preservation", "attribute_preservation", "{:.1%}"),
    ("mean abs. change, whole image (8-bit levels)", "mean_abs_change", "{:.2f}"),
    ("PSNR, whole image (dB)", "psnr", "{:.2f}"),
    ("mean abs. change outside the box", "mean_abs_change_outside", "{:.2f}"),
    ("PSNR outside the box (dB)", "psnr_outside", "{:.2f}"),
    ("mask mean", "mask_mean", "{:.3f}"),
    ("mask area above 0.5", "mask_area_above_half", "{:.1%}"),
    ("mask mass inside the box", "mask_mass_inside_box", "{:.1%}"),
)


@dataclass
class EvaluationReport:
    """Every figure of an evaluation and the settings that produced it (`evaluate`)."""

    settings: dict[str, Any]
    """Model, data, judge, limit, device, batch size, region, timing."""
    add: DirectionMetrics
    """Edits that add the attribute (inputs without it)."""
    remove: DirectionMetrics
    """Edits that remove it (inputs with it)."""
    frechet_classifier_distance: float | None = None
    """FCD: Fréchet distance in the judge's feature space, edits vs real test images (None for a
    single image)."""
    fid: float | None = None
    """FID with the given Inception network, edits vs real test images (None: not asked)."""
    reconstruction_psnr: float | None = None
    """PSNR of ``G(I, c_g)`` against ``I``, pooled over the set, dB (None: identical)."""
    flip_rates: dict[str, float] = field(default_factory=dict)
    """Per other attribute, the share of edits whose predicted value flipped."""

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvaluationReport:
        """Read a report back from ``metrics.json`` (or the folder holding it)."""
        path = Path(path)
        data = json.loads((path / "metrics.json" if path.is_dir() else path).read_text())
        data["add"], data["remove"] = (DirectionMetrics(**data[k]) for k in ("add", "remove"))
        return cls(**data)

    def to_markdown(self) -> str:
        """Return the report as Markdown tables."""
        s = self.settings
        lines = [
            f"# Evaluation of {s['model']} ({s['attribute']}, variant {s['variant']})",
            "",
            f"Data: {s['data']} ({s['split']} split, {s['images']} images at "
            f"{s['image_size']} px); judge: {s['judge']}; box: {_box_text(s['box'])}.",
            "",
            "| metric | add | remove |",
            "|---|---|---|",
        ]
        for label, key, fmt in DIRECTION_ROWS:
            values = [getattr(d, key) for d in (self.add, self.remove)]
            lines.append(f"| {label} | " + " | ".join(format_value(v, fmt) for v in values) + " |")
        lines += [
            "",
            "| metric | value |",
            "|---|---|",
            f"| Fréchet classifier distance (FCD, edits vs real) | "
            f"{format_value(self.frechet_classifier_distance, '{:.3f}')} |",
            f"| FID (Inception) | {format_value(self.fid, '{:.2f}')} |",
            f"| reconstruction PSNR (dB) | {format_value(self.reconstruction_psnr, '{:.2f}')} |",
        ]
        return "\n".join(lines) + "\n"

    def both(self, key: str, fmt: str) -> str:
        """Return a `DirectionMetrics` field as ``"<add> / <remove>"`` text."""
        add, remove = getattr(self.add, key), getattr(self.remove, key)
        return f"{format_value(add, fmt)} / {format_value(remove, fmt)}"

    def summary(self) -> dict[str, str]:
        """Return the headline figures as text, for a model card's ``evaluation`` table."""
        s, pair = self.settings, self.both
        return {
            "test data": f"{Path(str(s['data'])).name} ({s['data_format']} layout, {s['split']} "
            f"split, {s['images']} images)",
            "judge": str(s["judge"]),
            "editing accuracy, add / remove": pair("editing_accuracy", "{:.1%}"),
            "judge accuracy on the inputs, add / remove": pair(
                "judge_accuracy_on_inputs", "{:.1%}"
            ),
            "attribute preservation, add / remove": pair("attribute_preservation", "{:.1%}"),
            "mean abs. change outside the attribute box (8-bit levels)": pair(
                "mean_abs_change_outside", "{:.2f}"
            ),
            "PSNR outside the attribute box (dB)": pair("psnr_outside", "{:.1f}"),
            "mask mass inside the attribute box": pair("mask_mass_inside_box", "{:.1%}"),
            "Fréchet classifier distance (FCD)": format_value(
                self.frechet_classifier_distance, "{:.3f}"
            ),
            "reconstruction PSNR (dB)": format_value(self.reconstruction_psnr, "{:.1f}"),
        }

    def save(self, out_dir: str | os.PathLike[str], grid: np.ndarray | None = None) -> Path:
        """Write ``metrics.json``, ``metrics.md`` and (given) ``samples.png`` atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        atomic_write_bytes(out / "metrics.json", text.encode())
        atomic_write_bytes(out / "metrics.md", self.to_markdown().encode())
        if grid is not None:
            import io

            buffer = io.BytesIO()
            Image.fromarray(grid).save(buffer, format="PNG")
            atomic_write_bytes(out / "samples.png", buffer.getvalue())
        return out


def format_value(value: float | int | None, fmt: str) -> str:
    """Format a figure, or ``n/a`` when it is None."""
    return "n/a" if value is None else fmt.format(value)


def _box_text(box: Sequence[float] | None) -> str:
    if box is None:
        return "none (this attribute has no fixed place)"
    return f"x {box[0]:.2f}-{box[2]:.2f}, y {box[1]:.2f}-{box[3]:.2f} of the crop"


# ----------------------------------------------------------------------------- evaluation


@dataclass
class _ChangeSums:
    """Sums of a per-pixel change in 8-bit levels, for its mean and its PSNR."""

    abs: float = 0.0
    sq: float = 0.0
    px: int = 0

    def add(self, change: Tensor) -> None:
        """Add the absolute changes ``change`` (any shape)."""
        self.abs += float(change.sum())
        self.sq += float((change**2).sum())
        self.px += change.numel()

    def mean(self) -> float | None:
        """The mean change (None over no pixels)."""
        return self.abs / self.px if self.px else None

    def psnr(self) -> float | None:
        """The PSNR in dB (None over no pixels, or no change)."""
        if self.px == 0 or self.sq == 0:
            return None
        return 10 * math.log10(255.0**2 / (self.sq / self.px))


def _to_levels(images: Tensor) -> Tensor:
    """Images in [-1, 1] -> float 8-bit levels, rounded as when saved."""
    return images.float().add(1).mul(127.5).round().clamp(0, 255)


@dataclass
class _BatchResults:
    """One batch's edits, judged: what the per-direction totals add up (all on the device)."""

    labels: Tensor
    """The inputs' labels of the model's attribute, (N,)."""
    target: Tensor
    """The value each image is edited to, ``1 - labels``."""
    p_in: Tensor
    """The judge's probabilities on the inputs, (N, attributes)."""
    p_out: Tensor
    """The judge's probabilities on the 8-bit edits, (N, attributes)."""
    diff: Tensor
    """``|edit - input|`` in 8-bit levels, (N, 3, H, W)."""
    mask: Tensor
    """The generator's attention mask, (N, 1, H, W)."""


@dataclass
class _DirectionTotals:
    """Sums over the images of one direction, turned into `DirectionMetrics` by `finish`."""

    target: float
    """The value this direction edits to: 1.0 adds the attribute, 0.0 removes it."""
    column: int
    """The judge's column of the model's attribute."""
    others: list[int]
    """The judge's other columns."""
    outside: Tensor | None
    """(H, W) bool, on the device: the pixels outside the attribute's box (None: no box)."""
    n: int = 0
    success: float = 0.0
    judge: float = 0.0
    kept: float = 0.0
    kept_count: int = 0
    flips: Tensor = field(init=False)
    """Per judge column, the edits whose predicted value flipped."""
    change: _ChangeSums = field(default_factory=_ChangeSums)
    change_out: _ChangeSums = field(default_factory=_ChangeSums)
    """The change outside the attribute's box."""
    mask: float = 0.0
    mask_half: float = 0.0
    mask_in: float = 0.0
    mask_px: int = 0
    _inside: Tensor | None = field(init=False)

    def __post_init__(self) -> None:
        self.flips = torch.zeros(len(self.others) + 1)  # every judge column
        self._inside = ~self.outside if self.outside is not None else None

    def add(self, batch: _BatchResults) -> None:
        """Add the images of ``batch`` edited in this direction."""
        rows = batch.target == self.target
        n = int(rows.sum())
        if n == 0:
            return
        self.n += n
        wanted = batch.p_out[rows, self.column] > 0.5
        self.success += float((wanted == bool(self.target)).sum())
        judged = (batch.p_in[rows, self.column] > 0.5) == (batch.labels[rows] > 0.5)
        self.judge += float(judged.sum())
        flipped = (batch.p_in[rows][:, self.others] > 0.5) != (
            batch.p_out[rows][:, self.others] > 0.5
        )
        self.kept += float((~flipped).sum())
        self.kept_count += flipped.numel()
        self.flips[self.others] += flipped.float().sum(0).cpu()
        d = batch.diff[rows]
        self.change.add(d)
        if self.outside is not None:
            self.change_out.add(d[:, :, self.outside])
        m = batch.mask[rows].float()
        self.mask += float(m.sum())
        self.mask_half += float((m > 0.5).sum())
        self.mask_px += m.numel()
        if self._inside is not None:
            self.mask_in += float(m[:, :, self._inside].sum())

    def finish(self, attention: bool) -> DirectionMetrics:
        """Return this direction's figures (mask statistics only for ``attention`` models)."""
        if self.n == 0:
            return DirectionMetrics()
        metrics = DirectionMetrics(
            images=self.n,
            editing_accuracy=self.success / self.n,
            judge_accuracy_on_inputs=self.judge / self.n,
            attribute_preservation=self.kept / self.kept_count if self.kept_count else None,
            mean_abs_change=self.change.mean(),
            psnr=self.change.psnr(),
            mean_abs_change_outside=self.change_out.mean(),
            psnr_outside=self.change_out.psnr(),
        )
        if attention:
            metrics.mask_mean = self.mask / self.mask_px
            metrics.mask_area_above_half = self.mask_half / self.mask_px
            metrics.mask_mass_inside_box = (
                self.mask_in / self.mask if self.mask > 0 and self.change_out.px else None
            )
        return metrics


class _SetTotals:
    """Sums over the whole set: Fréchet statistics (judge and Inception) and reconstruction."""

    def __init__(self, inception: Any) -> None:
        self.inception = inception
        self.real_feats, self.edit_feats = FrechetStats(), FrechetStats()
        self.real_incep, self.edit_incep = FrechetStats(), FrechetStats()
        self.reconstruction = _ChangeSums()

    def add_reconstruction(self, recon8: Tensor, inputs8: Tensor) -> None:
        self.reconstruction.add((recon8 - inputs8).abs())

    def add_features(self, feats_in: Tensor, feats_out: Tensor) -> None:
        self.real_feats.update(feats_in)
        self.edit_feats.update(feats_out)

    def add_inception(self, inputs8: Tensor, edits8: Tensor) -> None:
        if self.inception is not None:
            net = self.inception
            self.real_incep.update(net(inputs8.to(torch.uint8), return_features=True))
            self.edit_incep.update(net(edits8.to(torch.uint8), return_features=True))

    def finish(self, total: int) -> dict[str, float | None]:
        """Return the report's set-wide figures for a set of ``total`` images."""
        fcd = self.real_feats.distance(self.edit_feats) if total > 1 else None
        with_fid = self.inception is not None and total > 1
        fid = self.real_incep.distance(self.edit_incep) if with_fid else None
        return {
            "frechet_classifier_distance": fcd,
            "fid": fid,
            "reconstruction_psnr": self.reconstruction.psnr(),
        }


def _sample_rows(inputs: Tensor, edits: Tensor, masks: Tensor, outside: Tensor | None) -> list:
    """Grid rows: input | edit | mask | |edit - input| x4 with the box's outline."""
    edge = None
    if outside is not None:  # the box's outline, drawn in the difference panel
        inside = ~outside
        edge = inside & ~(
            torch.roll(inside, 1, 0) & torch.roll(inside, -1, 0)
            & torch.roll(inside, 1, 1) & torch.roll(inside, -1, 1)
        )  # fmt: skip
    rows = []
    for x, e, m in zip(inputs, edits, masks, strict=True):
        diff = ((e - x).abs() * 4).clamp(0, 255)
        if edge is not None:
            diff[0][edge], diff[1][edge], diff[2][edge] = 255, 64, 64
        mask = (m.float() * 255).round().expand(3, -1, -1)
        rows.append(torch.cat([x, e, mask, diff], dim=2))
    return rows


def _grid(rows: list, pad: int = 2) -> np.ndarray:
    tiles = [torch.nn.functional.pad(r, (pad, pad, pad, pad), value=255) for r in rows]
    return torch.cat(tiles, dim=1).permute(1, 2, 0).to(torch.uint8).numpy()


def _template_for(dataset: Any, model: SaGAN) -> Sequence[Sequence[float]]:
    """The face template of the test images: their layout's, else the model's."""
    layout = getattr(dataset, "source_format", None) or dataset.format
    return LAYOUT_TEMPLATES.get(layout) or model.config.face_template or CELEBAHQ_TEMPLATE


def _check_test_set(model: SaGAN, dataset: Any) -> None:
    """Refuse an empty test set or one of another image size than the model's."""
    if len(dataset) == 0:
        raise EvaluationError("the test set holds no images")
    if dataset.image_size != model.config.image_size:
        raise EvaluationError(
            f"the test images are {dataset.image_size} px, the model runs at "
            f"{model.config.image_size} px; load them at that size"
        )


def _edit_and_judge(
    model: SaGAN, judge: AttributeClassifier, images: Tensor, labels: Tensor, whole_set: _SetTotals
) -> tuple[_BatchResults, Tensor, Tensor]:
    """Edit a batch to the opposite value, judge inputs and 8-bit edits, add set-wide sums.

    Returns the judged batch and the inputs and edits as 8-bit levels (for the sample grid).
    """
    dtype = model.dtype
    target = 1 - labels
    out = model.generator(images.to(dtype), target.to(dtype))
    inputs8, edits8 = _to_levels(images), _to_levels(out.image)
    recon8 = _to_levels(model.generator(images.to(dtype), labels.to(dtype)).image)
    whole_set.add_reconstruction(recon8, inputs8)
    feats_in, feats_out = judge.features(images), judge.features(edits8 / 127.5 - 1)
    p_in = torch.sigmoid(judge.head(feats_in)).float()
    p_out = torch.sigmoid(judge.head(feats_out)).float()
    whole_set.add_features(feats_in, feats_out)
    whole_set.add_inception(inputs8, edits8)
    batch = _BatchResults(
        labels=labels, target=target, p_in=p_in, p_out=p_out,
        diff=(edits8 - inputs8).abs(), mask=out.mask,
    )  # fmt: skip
    return batch, inputs8, edits8


def _run_settings(
    model: SaGAN,
    dataset: Any,
    *,
    judged_by: AttributeClassifier | None,
    box: tuple[float, float, float, float] | None,
    batch_size: int,
) -> dict[str, Any]:
    """The report's settings that describe the run (all but its timing and the caller's)."""
    return {
        "model": "(in memory)",
        "attribute": model.attribute,
        "variant": model.config.variant,
        "image_size": model.config.image_size,
        "data": getattr(dataset, "format", "?"),
        "data_format": getattr(dataset, "format", "?"),
        "split": getattr(dataset, "split", "?"),
        "images": len(dataset),
        "judge": SHIPPED_JUDGE if judged_by is None else "given attribute classifier",
        "box": list(box) if box is not None else None,
        "batch_size": batch_size,
        "device": str(model.device),
    }


@torch.inference_mode()
def evaluate(
    model: SaGAN,
    dataset: Any,
    *,
    classifier: AttributeClassifier | None = None,
    inception: Any = None,
    batch_size: int = 32,
    num_samples: int = 8,
    box: tuple[float, float, float, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    settings: dict[str, Any] | None = None,
) -> tuple[EvaluationReport, np.ndarray | None]:
    """Evaluate ``model`` on a test ``dataset`` (from `sagan_edit.data.load_dataset`).

    Args:
        model: the editor; it runs on its own device.
        dataset: test images of the model's size with the model's attribute's labels.
        classifier: the judge (default: the shipped `AttributeClassifier`), moved to the model's
            device.
        inception: an FID feature network (`load_inception`); None skips FID.
        batch_size: images per forward pass.
        num_samples: images in the sample grid (0: no grid).
        box: the attribute's box as fractions ``(left, top, right, bottom)`` (default:
            `attribute_region` on the data's face template).
        progress: called as ``progress(done, total)`` after each batch.
        settings: extra entries for the report's settings (names, paths).

    Returns:
        The `EvaluationReport` and the sample grid (H, W, 3) uint8 (None when not asked).
    """
    _check_test_set(model, dataset)
    device = model.device
    judge = (classifier or AttributeClassifier.from_pretrained()).to(device)
    column = judge.index(model.attribute)
    others = [i for i in range(len(judge.attributes)) if i != column]
    if box is None:
        box = attribute_region(model.attribute, _template_for(dataset, model))
    outside = ~region_mask(box, model.config.image_size) if box is not None else None
    outside_dev = outside.to(device) if outside is not None else None
    directions = {t: _DirectionTotals(t, column, others, outside_dev) for t in (1.0, 0.0)}
    whole_set = _SetTotals(inception)
    sample_rows: list = []
    start_time = time.perf_counter()
    total = len(dataset)
    for start in range(0, total, batch_size):
        images, labels = dataset.batch(np.arange(start, min(start + batch_size, total)))
        batch, inputs8, edits8 = _edit_and_judge(
            model, judge, images.to(device), labels.to(device), whole_set
        )
        for totals in directions.values():
            totals.add(batch)
        if len(sample_rows) < num_samples:
            take = num_samples - len(sample_rows)
            sample_rows += _sample_rows(
                inputs8[:take].cpu(), edits8[:take].cpu(), batch.mask[:take].cpu(), outside
            )
        if progress is not None:
            progress(min(start + batch_size, total), total)

    add, remove = directions[1.0], directions[0.0]
    edited = add.n + remove.n
    flip_rates = {
        judge.attributes[i]: round(float(add.flips[i] + remove.flips[i]) / edited, 4)
        for i in others
    }
    attention = model.config.variant == "attention"
    report = EvaluationReport(
        settings={
            **_run_settings(model, dataset, judged_by=classifier, box=box, batch_size=batch_size),
            "seconds": round(time.perf_counter() - start_time, 1),
            **(settings or {}),
        },
        add=add.finish(attention),
        remove=remove.finish(attention),
        flip_rates=dict(sorted(flip_rates.items(), key=lambda kv: -kv[1])),
        **whole_set.finish(total),
    )
    return report, _grid(sample_rows) if sample_rows else None

"""Measure what the paste-back keeps of a photo: its detail under the mask, and colour speckles.

Run from the project root (CPU only; about 6 s on an idle 2-core machine)::

    python benchmarks/bench_paste.py                  # the example photo, and ../shared/data
    python benchmarks/bench_paste.py --images 8       # more CelebA-HQ test faces per group

Each face is edited once with the embedded eyeglasses model; the same generator output is then
pasted back in each of these ways, through the same 8-bit mask:

- ``replace``: the former paste-back, kept here as the baseline: AMN's image, up-sampled to the
  photo and blended over it through the mask, so that under the mask the photo's own detail is
  replaced by an up-sampled 64-pixel image;
- ``detail``: the photo plus the model's change to its crop (``I_a - crop``), up-sampled,
  through the mask (`sagan_edit.imaging.model_change` with ``chroma_sigma=0``);
- ``detail, chroma s``: the same, with the change's colour (Cb, Cr) low-passed by a Gaussian of
  ``s`` crop pixels before it is up-sampled, its luma kept. ``chroma 1`` is the library's
  paste-back (`sagan_edit.imaging.CHROMA_SIGMA`).

The photos: ``examples/astronaut.png`` (its face aligned when the ``align`` extra is installed,
else cut by its box), and, when ``../shared/data/celebahq128`` is there, CelebA-HQ test faces
(128 px, edited as crops at 64 px): ``--images`` without eyeglasses (the edit adds them) and as
many with (it removes them). Columns, over the pixels whose mask is above 0.5, averaged over
the group's faces (high frequencies: the luma minus its Gaussian blur of sigma 1 photo pixel):

- ``detail kept``: how much of the input's high frequencies the output holds (the regression
  coefficient of the output's on the input's): 1.0, all of the photo's detail; 0, none;
- ``HF energy``: the output's high-frequency energy over the input's (what the edit draws
  counts too, so an edit that adds sharp frames can exceed 1);
- ``speckles in`` / ``out``: share of pixels whose chroma (Cb, Cr) lies more than 12 levels from
  its 9x9 median, in the input and in the output: isolated colour dots;
- ``edit``: mean absolute change of the luma blurred by sigma 2 photo pixels, 8-bit levels: the
  edit at the scale the model works at, which the paste-back must not weaken;
- ``colour edit``: mean change of the chroma blurred likewise (Cb, Cr distance), 8-bit levels.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from sagan_edit import AlignmentUnavailableError, SaGAN
from sagan_edit.align import (
    FaceAlignment,
    _apply,
    _border_taper,
    _pixel_centres,
    _sample,
    paste_edit,
)
from sagan_edit.imaging import _gaussian_blur, add_change, quantise_mask
from sagan_edit.model import PreparedImage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "astronaut.png"
EXAMPLE_FACE_BOX = (144, 26, 304, 186)
DATA = Path(os.environ.get("SAGAN_DATA") or ROOT.parent / "shared" / "data")
SPECKLE_LEVELS = 12.0  # chroma distance from the local median that makes a pixel a speckle
SPECKLE_WINDOW = 9  # side of the local median's window, photo pixels

Paste = Callable[[PreparedImage, int, torch.Tensor, torch.Tensor], None]


def paste_replace(item: PreparedImage, index: int, amn: torch.Tensor, mask: torch.Tensor) -> None:
    """The baseline: AMN's image, up-sampled as the mask is, blended over the photo."""
    place, image = item.placements[index], amn.float().add(1).mul(127.5)
    if isinstance(place, FaceAlignment):
        height, width = item.pixels.shape[:2]
        left, top, right, bottom = place.photo_region(width, height)
        coords = _apply(place.matrix, _pixel_centres(left, top, right - left, bottom - top))
        taper = _border_taper(place.size, place.size / 16)
        mask_u8 = quantise_mask(_sample((mask[0] * taper)[None], coords, "bilinear")[0])
        up = _sample(image, coords, "bicubic")
    else:
        left, top, right, bottom = place
        size = (right - left, bottom - top)
        up_mask = F.interpolate(mask[None], size=size, mode="bilinear", align_corners=False)
        mask_u8 = quantise_mask(up_mask[0, 0])
        up = F.interpolate(image[None], size=size, mode="bicubic", align_corners=False)[0]
    region = item.pixels[top:bottom, left:right]
    # a change of (AMN's image - the photo) makes add_change the old blend exactly
    add_change(region, mask_u8, up.clamp(0, 255).permute(1, 2, 0).numpy() - region)


def paste_detail(sigma: float) -> Paste:
    """The library's paste-back (`PreparedImage.paste`), with the change's chroma low-passed."""

    def paste(item: PreparedImage, index: int, amn: torch.Tensor, mask: torch.Tensor) -> None:
        place, crop = item.placements[index], item.crops[index]
        paste_edit(item.pixels, item.mask, place, amn, mask, crop=crop, chroma_sigma=sigma)

    return paste


def luma(rgb: np.ndarray) -> torch.Tensor:
    """(H, W) float32 BT.601 luma of an (H, W, 3) uint8 image."""
    return torch.from_numpy(rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]))


def chroma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 Cb and Cr (BT.601 full range, without the 128 offset)."""
    weights = np.float32([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    return rgb.astype(np.float32) @ weights.T


def speckles(rgb: np.ndarray, region: np.ndarray) -> float:
    """Share of ``region``'s pixels whose chroma is over `SPECKLE_LEVELS` from its local median."""
    values = chroma(rgb)
    half = SPECKLE_WINDOW // 2
    padded = np.pad(values, ((half, half), (half, half), (0, 0)), mode="edge")
    windows = sliding_window_view(padded, (SPECKLE_WINDOW, SPECKLE_WINDOW), axis=(0, 1))
    median = np.median(windows.reshape(*values.shape, -1), axis=-1)
    distance = np.hypot(*(values - median).transpose(2, 0, 1))
    return float((distance[region] > SPECKLE_LEVELS).mean())


def blurred(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of an (H, W) or (C, H, W) image, ``sigma`` in pixels."""
    return _gaussian_blur(image[None] if image.ndim == 2 else image, sigma).reshape(image.shape)


def measure(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> dict[str, float] | None:
    """The columns for one face, over the pixels whose mask is above 0.5 (None: there are none)."""
    region = mask > 127
    if not region.any():
        return None
    rows, cols = np.nonzero(region)
    margin = 3 * SPECKLE_WINDOW  # room for the blurs and the median around the region
    top, left = max(0, rows.min() - margin), max(0, cols.min() - margin)
    window = np.s_[top : rows.max() + margin + 1, left : cols.max() + margin + 1]
    before, after, region = before[window], after[window], region[window]
    inside = torch.from_numpy(region)
    y_in, y_out = luma(before), luma(after)
    high_in = (y_in - blurred(y_in, 1.0))[inside]
    high_out = (y_out - blurred(y_out, 1.0))[inside]
    coarse = [blurred(torch.from_numpy(chroma(x)).permute(2, 0, 1), 2.0) for x in (before, after)]
    return {
        "detail kept": float((high_out * high_in).sum() / high_in.square().sum()),
        "HF energy": float(high_out.square().sum() / high_in.square().sum()),
        "speckles in": speckles(before, region),
        "speckles out": speckles(after, region),
        "edit": float((blurred(y_out, 2.0) - blurred(y_in, 2.0))[inside].abs().mean()),
        "colour edit": float((coarse[1] - coarse[0]).norm(dim=0)[inside].mean()),
    }


def celebahq_faces(data: Path, count: int) -> dict[str, list[Path]]:
    """The first ``count`` CelebA-HQ test images (27001 on) without eyeglasses, and with."""
    lines = (data / "celebahq128" / "attributes.txt").read_text().splitlines()
    column = lines[1].split().index("Eyeglasses")
    groups: dict[str, list[Path]] = {"-1": [], "1": []}
    for line in lines[2 + 27000 :]:
        name, *values = line.split()
        group = groups[values[column]]
        if len(group) < count:
            group.append(data / "celebahq128" / "images" / name)
    return {"add": groups["-1"], "remove": groups["1"]}


def prepare_example(model: SaGAN) -> tuple[PreparedImage, str]:
    """The example photo's face: aligned when the ``align`` extra is installed, else its box."""
    try:
        return model.prepare(EXAMPLE, align=True), "aligned"
    except AlignmentUnavailableError:
        return model.prepare(EXAMPLE, box=EXAMPLE_FACE_BOX), "box"


def paste_all(
    item: PreparedImage, amn: torch.Tensor, mask: torch.Tensor, pastes: dict[str, Paste]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Paste one image's generator outputs each way: ``({way: pixels}, the 8-bit mask)``."""
    pixels = {}
    for name, paste in pastes.items():
        fresh = PreparedImage(item.source, item.placements, item.crops)
        for k in range(len(item.crops)):
            paste(fresh, k, amn[k], mask[k])
        pixels[name] = fresh.pixels
    reference = PreparedImage(item.source, item.placements, item.crops)
    for k in range(len(item.crops)):  # the mask every way pastes through
        reference.paste(k, amn[k], mask[k])
    return pixels, reference.mask


def around(mask: np.ndarray, margin: int = 12) -> tuple[slice, slice]:
    """The square window around a mask's nonzero pixels, ``margin`` pixels wider."""
    rows, cols = np.nonzero(mask)
    centre_y, centre_x = (rows.min() + rows.max()) // 2, (cols.min() + cols.max()) // 2
    half = max(rows.max() - rows.min(), cols.max() - cols.min()) // 2 + margin
    top, left = max(0, centre_y - half), max(0, centre_x - half)
    return np.s_[top : centre_y + half, left : centre_x + half]


def run_group(
    model: SaGAN, items: list[PreparedImage], value: bool, pastes: dict[str, Paste]
) -> tuple[dict[str, dict[str, float]], list[np.ndarray]]:
    """Edit every face of ``items`` once, paste each way: the mean columns, the first image's."""
    output = model.generate([crop for item in items for crop in item.crops], value)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in pastes}
    start, shown = 0, []
    for item in items:
        end = start + len(item.crops)
        pixels, mask = paste_all(item, output.amn_image[start:end], output.mask[start:end], pastes)
        start = end
        for name, edited in pixels.items():
            row = measure(item.source.rgb, edited, mask)
            rows[name] += [row] if row is not None else []
        shown = shown or [x[around(mask)] for x in (item.source.rgb, *pixels.values())]
    means = {n: {k: float(np.mean([r[k] for r in rs])) for k in rs[0]} for n, rs in rows.items()}
    return means, shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="CelebA-HQ faces per group")
    parser.add_argument("--sigmas", type=float, nargs="*", default=[1.0, 2.0])
    parser.add_argument("--sheet", type=Path, help="save each group's first face, each way")
    args = parser.parse_args()
    started = time.process_time()
    model = SaGAN.from_pretrained("eyeglasses", device="cpu", dtype="fp32")
    pastes: dict[str, Paste] = {"replace": paste_replace, "detail": paste_detail(0.0)}
    pastes.update({f"detail, chroma {s:g}": paste_detail(s) for s in args.sigmas})
    example, how = prepare_example(model)
    groups = [(f"astronaut.png ({how}), add", [example], True)]
    if (DATA / "celebahq128" / "attributes.txt").is_file():
        for action, paths in celebahq_faces(DATA, args.images).items():
            items = [model.prepare(path, align=False) for path in paths]
            groups.append((f"CelebA-HQ x{len(paths)}, {action}", items, action == "add"))
    columns = ["detail kept", "HF energy", "speckles in", "speckles out", "edit", "colour edit"]
    print(f"{'photos, edit':<30} {'paste-back':<17}" + "".join(f"{c:>13}" for c in columns))
    sheet = []
    for title, items, value in groups:
        means, shown = run_group(model, items, value, pastes)
        for name, row in means.items():
            cells = "".join(f"{row.get(c, float('nan')):>13.3f}" for c in columns)
            print(f"{title:<30} {name:<17}{cells}")
        sheet.append(shown)
    print(f"CPU time: {time.process_time() - started:.1f} s")
    if args.sheet:
        save_sheet(args.sheet, sheet)


def save_sheet(path: Path, rows: list[list[np.ndarray]], side: int = 384) -> None:
    """One row a group: the input, then each paste-back, each resized to ``side`` (nearest)."""
    from PIL import Image

    canvas = Image.new("RGB", (side * len(rows[0]), side * len(rows)))
    for i, row in enumerate(rows):
        for j, pixels in enumerate(row):
            tile = Image.fromarray(pixels).resize((side, side), Image.Resampling.NEAREST)
            canvas.paste(tile, (j * side, i * side))
    canvas.save(path)


if __name__ == "__main__":
    main()

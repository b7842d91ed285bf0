"""Faces in real photos: detection, landmarks, alignment to the training crop, and paste-back.

A SaGAN model only knows faces framed like its training images. To edit a photo, each face is

1. **found** by a detector that also gives three landmarks: the two eye centres and the nose
   (`DlibFaceDetector`, from the optional extra ``pip install "sagan-edit[align]"``);
2. **aligned**: the similarity transform (rotation, uniform scale, translation) that best maps
   those landmarks onto the model's *template* — where the same detector puts them on the
   training crops — is fitted by least squares (`similarity_transform`), and the face is
   resampled into a ``image_size`` square through it (`FaceAlignment.crop`);
3. **edited** at the model's resolution;
4. **pasted back**: the model's change to its crop (AMN's image minus the crop) and the
   attention mask are warped back into the photo through the inverse transform, and the change
   is added to the photo's own full-resolution pixels through the 8-bit mask
   (`FaceAlignment.paste`), so the photo keeps its detail under the mask. The mask is tapered
   to zero at the crop's border so no seam shows; every pixel whose mask is 0 stays
   bit-for-bit the input.

**Coordinates.** Points are continuous pixel coordinates: pixel ``(i, j)`` covers ``[j, j+1] x
[i, i+1]``, so its centre is ``(j + 0.5, i + 0.5)``. Templates are fractions of the crop's side.

**Why dlib.** The detector must run offline, with weights inside a PyPI package, beside any torch
and numpy 2. dlib's HOG face detector is built into the ``dlib-bin`` wheel, and the 5-point
landmark model of ``face_recognition_models`` (CC0) gives both corners of each eye and the bottom
of the nose. facenet-pytorch's MTCNN (five points, mouth included) imports torchvision, which
does not import beside every torch build; dlib's 68-point model gives the mouth too, but was
trained on iBUG 300-W, whose licence excludes commercial use. The HOG detector finds roughly
frontal faces (about +-30 degrees of yaw and in-plane rotation), which is also the range a
CelebA-trained model edits well; when it finds none, dlib's CNN detector (also in
``face_recognition_models``) looks again: it finds faces turned or tilted by 45 degrees, at
about 100 times HOG's cost (`DlibFaceDetector`).
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import AlignmentUnavailableError, NoFaceFoundError
from .imaging import CHROMA_SIGMA, Box, add_change, model_change, paste_box, quantise_mask

__all__ = [
    "CELEBAHQ_TEMPLATE",
    "CELEBA_TEMPLATE",
    "LANDMARK_NAMES",
    "LAYOUT_TEMPLATES",
    "AlignmentUnavailableError",
    "DlibFaceDetector",
    "Face",
    "FaceAlignment",
    "FaceDetector",
    "NoFaceFoundError",
    "derive_template",
    "get_detector",
    "is_aligned",
    "paste_edit",
    "similarity_transform",
]

LANDMARK_NAMES = ("right_eye", "left_eye", "nose")
"""The landmarks, in order: the person's right eye (on the image's left in an upright,
unmirrored face), their left eye, and the bottom of the nose."""

# Measured with `derive_template` and `DlibFaceDetector` (see scripts/derive_template.py):
#: CelebA-HQ's 128x128 crops (1,000 training images).
CELEBAHQ_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.3797, 0.4862),
    (0.6234, 0.4867),
    (0.4992, 0.6727),
)
#: Official aligned CelebA after StarGAN's 178x178 centre crop (the 32 sample images).
CELEBA_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.3921, 0.5259),
    (0.6087, 0.5251),
    (0.4988, 0.6886),
)
#: The measured template of each data layout whose crops are known (`sagan_edit.data` names).
LAYOUT_TEMPLATES: dict[str, tuple[tuple[float, float], ...]] = {
    "celebahq": CELEBAHQ_TEMPLATE,
    "celeba": CELEBA_TEMPLATE,
}

#: How to install the ``align`` extra, in the messages that need it (one line). The package is
#: not on PyPI yet, so the source checkout's form comes with it.
INSTALL_HINT = 'pip install "sagan-edit[align]", or pip install -e ".[align]" in a source checkout'
_DETECTOR_SIDE = 80  # dlib's HOG window: the smallest face it finds, in detection pixels
_MAX_DETECTION_PIXELS = 2_000_000  # caps detection time and memory on large photos


@dataclass(frozen=True)
class Face:
    """A face found in a photo."""

    box: tuple[int, int, int, int]
    """The detector's (left, top, right, bottom) box, in photo pixels."""
    landmarks: np.ndarray
    """(3, 2) float array of `LANDMARK_NAMES` points, continuous photo coordinates (x, y)."""
    score: float
    """The detector's confidence (dlib's HOG score, or its CNN's; higher is surer)."""

    @property
    def size(self) -> int:
        """Width of the detector's box, in photo pixels."""
        return self.box[2] - self.box[0]


class FaceDetector(Protocol):
    """Anything that finds faces and their `LANDMARK_NAMES` landmarks in an RGB uint8 array."""

    def detect(self, rgb: np.ndarray, *, min_face_size: int = 80) -> list[Face]:
        """Return the faces in ``rgb`` (H, W, 3), largest at least ``min_face_size`` wide."""
        ...


def _model_file(name: str, override: str) -> str:
    """Path of one of ``face_recognition_models``' files (or the environment's override)."""
    if os.environ.get(override):
        return os.environ[override]
    spec = importlib.util.find_spec("face_recognition_models")
    # not imported: its __init__ needs pkg_resources, which recent setuptools no longer ship
    if spec is None or not spec.submodule_search_locations:
        raise AlignmentUnavailableError(f"face alignment needs the landmark model: {INSTALL_HINT}")
    folder = list(spec.submodule_search_locations)[0]
    return os.path.join(folder, "models", name)


def _landmark_model_path() -> str:
    return _model_file("shape_predictor_5_face_landmarks.dat", "SAGAN_LANDMARKS")


class DlibFaceDetector:
    """dlib's HOG face detector, its CNN detector as a fallback, and the 5-point landmark model.

    **Scale.** dlib's detectors find faces of about 80 pixels and more, so the photo is
    scaled by ``80 / min_face_size``, but searched whole at no more than 2 megapixels (which
    finds its large faces). When that cap makes the search too coarse for ``min_face_size``
    (a photo over 2 MP), the photo is searched again at the scale ``min_face_size`` needs (at
    most 50 MP in all), in overlapping tiles of about 1,536 pixels, so that an 80-pixel face
    in a 12-MP photo is found. Duplicate detections (a face in two tiles, or in a tile and the
    whole) are merged, the higher score kept.

    **Fallback.** When the HOG detector finds nothing, dlib's CNN detector (MMOD,
    ``mmod_human_face_detector.dat`` from ``face_recognition_models``) looks again, on the
    photo scaled to at most ``cnn_max_pixels`` (1 MP; it costs about 10 s of CPU per
    megapixel). It finds faces turned or tilted further than HOG's +-30 degrees. Pass
    ``cnn_fallback=False`` for HOG alone.

    HOG detections scoring below ``score_threshold`` are dropped: on CelebA and CelebA-HQ test
    images real faces score above 0.7, while the false positives seen on the example photo (a
    badge, a helmet) scored 0.15-0.37; CNN detections below ``cnn_threshold`` likewise. The eye
    centres are the means of each eye's two corners.

    Args:
        landmark_model: the 5-point landmark model file (default: ``face_recognition_models``'
            file, or ``$SAGAN_LANDMARKS``).
        score_threshold: the lowest HOG score kept.
        cnn_fallback: run the CNN detector when HOG finds nothing (skipped, silently, when the
            default model file is not installed).
        cnn_model: the CNN detector's file (default: ``face_recognition_models``'
            ``mmod_human_face_detector.dat``, or ``$SAGAN_CNN_DETECTOR``).
        cnn_threshold: the lowest CNN confidence kept (real faces seen: 0.5-3.0; none of the
            face-free test images gave a detection at 0.3).
        cnn_max_pixels: the largest copy of the photo the CNN searches.

    Raises:
        AlignmentUnavailableError: dlib or the landmark model is missing, or ``cnn_model``
            names a file that does not exist.
    """

    def __init__(
        self,
        landmark_model: str | os.PathLike[str] | None = None,
        score_threshold: float = 0.5,
        *,
        cnn_fallback: bool = True,
        cnn_model: str | os.PathLike[str] | None = None,
        cnn_threshold: float = 0.3,
        cnn_max_pixels: int = 1_000_000,
    ) -> None:
        try:
            import dlib
        except ImportError:
            raise AlignmentUnavailableError(f"face detection needs dlib: {INSTALL_HINT}") from None
        path = os.fspath(landmark_model) if landmark_model else _landmark_model_path()
        if not os.path.isfile(path):
            raise AlignmentUnavailableError(f"landmark model {path} is missing: {INSTALL_HINT}")
        self.score_threshold = score_threshold
        self.cnn_threshold = cnn_threshold
        self.cnn_max_pixels = cnn_max_pixels
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(path)
        self._cnn_path: str | None = None
        if cnn_fallback:
            self._cnn_path = _cnn_model_path(cnn_model)
        self._cnn: object | None = None
        self._lock = threading.Lock()  # dlib's objects are not documented as thread-safe

    def detect(self, rgb: np.ndarray, *, min_face_size: int = 80) -> list[Face]:
        """Return the faces in ``rgb`` (H, W, 3) uint8, sorted left to right."""
        pixels = max(1, rgb.shape[0] * rgb.shape[1])
        wanted = _DETECTOR_SIDE / max(1, min_face_size)
        whole = min(wanted, math.sqrt(_MAX_DETECTION_PIXELS / pixels))
        with self._lock:
            faces = self._run(rgb, whole, self._hog)
            if wanted > whole * 1.01:  # the 2-MP cap made the search too coarse: tiles
                tiled = min(wanted, math.sqrt(_MAX_TILED_PIXELS / pixels))
                overlap = round(1.5 * _DETECTOR_SIDE * tiled / whole)  # faces the whole pass misses
                faces = _merge(faces + self._run(rgb, tiled, self._hog, overlap))
            if not faces and self._cnn_path is not None:
                cnn = min(wanted, math.sqrt(self.cnn_max_pixels / pixels))
                faces = self._run(rgb, cnn, self._cnn_detect)
        faces = [face for face in faces if face.size >= min_face_size]
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))

    def _hog(self, image: np.ndarray) -> list[tuple[Any, float]]:
        rects, scores, _ = self._detector.run(image, 0, self.score_threshold)
        return list(zip(rects, scores, strict=True))

    def _cnn_detect(self, image: np.ndarray) -> list[tuple[Any, float]]:
        if self._cnn is None:
            import dlib

            self._cnn = dlib.cnn_face_detection_model_v1(self._cnn_path)
        found = self._cnn(image, 0)  # type: ignore[operator]
        return [(d.rect, d.confidence) for d in found if d.confidence >= self.cnn_threshold]

    def _run(
        self,
        rgb: np.ndarray,
        scale: float,
        find: Callable[[np.ndarray], list[tuple[Any, float]]],
        overlap: int | None = None,
    ) -> list[Face]:
        """Run ``find`` on ``rgb`` scaled by ``scale`` (in tiles when ``overlap`` is given)."""
        height, width = rgb.shape[:2]
        if abs(scale - 1) > 1e-3:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = np.asarray(
                Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            )
        else:
            image, size = rgb, (width, height)
        scale_xy = (size[0] / width, size[1] / height)
        faces = []
        for left, top, tile in _tiles(image, overlap):
            for rect, score in find(tile):
                shape = self._predictor(tile, rect)
                points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64) + 0.5
                box = (rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1)
                faces.append(_to_photo(points, box, (left, top), scale_xy, float(score), rgb))
        return faces


_MAX_TILED_PIXELS = 50_000_000  # caps the tiled search (detection pixels)
_TILE_SIDE = 1536  # tiles of the tiled search, before overlap (detection pixels)


def _cnn_model_path(cnn_model: str | os.PathLike[str] | None) -> str | None:
    """The CNN detector's file: given (must exist), or the package's (None when missing)."""
    if cnn_model is not None:
        path = os.fspath(cnn_model)
        if not os.path.isfile(path):
            raise AlignmentUnavailableError(f"CNN face detector {path} is missing")
        return path
    try:
        path = _model_file("mmod_human_face_detector.dat", "SAGAN_CNN_DETECTOR")
    except AlignmentUnavailableError:
        return None
    return path if os.path.isfile(path) else None


def _tiles(image: np.ndarray, overlap: int | None) -> Iterable[tuple[int, int, np.ndarray]]:
    """Yield ``(left, top, tile)``: the whole image, or overlapping tiles of `_TILE_SIDE`."""
    height, width = image.shape[:2]
    if overlap is None or max(width, height) <= _TILE_SIDE + overlap:
        yield 0, 0, np.ascontiguousarray(image)
        return
    step = _TILE_SIDE
    for top in range(0, max(1, height - overlap), step):
        for left in range(0, max(1, width - overlap), step):
            tile = image[top : top + step + overlap, left : left + step + overlap]
            yield left, top, np.ascontiguousarray(tile)


def _to_photo(
    points: np.ndarray,
    box: tuple[int, int, int, int],
    offset: tuple[int, int],
    scale_xy: tuple[float, float],
    score: float,
    rgb: np.ndarray,
) -> Face:
    """A `Face` in photo coordinates from a detection in a (scaled, tiled) copy of it."""
    height, width = rgb.shape[:2]
    scale_x, scale_y = scale_xy
    points = points + offset
    # dlib's order: image-right eye (2 corners), image-left eye (2 corners), nose
    landmarks = np.stack([points[2:4].mean(0), points[0:2].mean(0), points[4]])
    landmarks /= (scale_x, scale_y)
    left, top, right, bottom = np.add(box, offset * 2)
    photo_box = (
        max(0, math.floor(left / scale_x)),
        max(0, math.floor(top / scale_y)),
        min(width, math.ceil(right / scale_x)),
        min(height, math.ceil(bottom / scale_y)),
    )
    return Face(photo_box, landmarks, score)


def _merge(faces: list[Face]) -> list[Face]:
    """Drop detections of a face already found (boxes overlapping by more than a third)."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if all(_overlap(face.box, other.box) <= 1 / 3 for other in kept):
            kept.append(face)
    return kept


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(1, smaller)


_default_detector: FaceDetector | None = None
_default_lock = threading.Lock()


def get_detector() -> FaceDetector:
    """Return the shared default detector (`DlibFaceDetector`), loaded on first use.

    Raises:
        AlignmentUnavailableError: the ``align`` extra is not installed.
    """
    global _default_detector
    with _default_lock:
        if _default_detector is None:
            _default_detector = DlibFaceDetector()
        return _default_detector


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Fit the least-squares similarity ``target ~ s R source + t``: return it as a 2x3 matrix.

    Umeyama's closed form (rotation, uniform scale, translation; never a reflection).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2:
        raise ValueError(f"need two (N, 2) point sets, got {source.shape} and {target.shape}")
    if len(source) < 2:
        raise ValueError("a similarity transform needs at least 2 points")
    mean_s, mean_t = source.mean(0), target.mean(0)
    cs, ct = source - mean_s, target - mean_t
    variance = (cs**2).sum() / len(source)
    if variance <= 0:
        raise ValueError("the source points coincide")
    covariance = ct.T @ cs / len(source)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign)) / variance
    translation = mean_t - scale * rotation @ mean_s
    return np.hstack([scale * rotation, translation[:, None]])


def _invert(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (..., 2) points through a 2x3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def _sample(image: torch.Tensor, coords: np.ndarray, mode: str) -> torch.Tensor:
    """Sample (C, H, W) ``image`` at continuous (x, y) pixel ``coords`` of shape (h, w, 2)."""
    height, width = image.shape[-2:]
    coords = torch.from_numpy(coords).float()
    grid = torch.stack(
        [coords[..., 0] * (2 / width) - 1, coords[..., 1] * (2 / height) - 1], dim=-1
    )
    return F.grid_sample(
        image[None], grid[None].to(image.dtype), mode=mode, padding_mode="zeros",
        align_corners=False,
    )[0]  # fmt: skip


def _pixel_centres(left: int, top: int, width: int, height: int) -> np.ndarray:
    """(height, width, 2) continuous (x, y) centres of a block of pixels."""
    xs, ys = np.meshgrid(np.arange(width) + (left + 0.5), np.arange(height) + (top + 0.5))
    return np.stack([xs, ys], axis=-1)


def _border_taper(size: int, width: float) -> torch.Tensor:
    """(S, S) weights: 1 inside, falling smoothly to 0 over ``width`` pixels at each edge."""
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    distance = torch.minimum(centres, size - centres) / max(width, 1e-6)
    ramp = distance.clamp(0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    return ramp[:, None] * ramp[None, :]


@dataclass(frozen=True)
class FaceAlignment:
    """The warp between a photo and one face's ``size`` x ``size`` model crop."""

    matrix: np.ndarray
    """2x3 similarity mapping continuous photo coordinates to crop coordinates."""
    size: int
    """Side of the crop, in pixels (the model's ``image_size``)."""

    @classmethod
    def fit(
        cls, landmarks: np.ndarray, template: Sequence[Sequence[float]], size: int
    ) -> FaceAlignment:
        """Fit the transform taking ``landmarks`` (photo) to ``template`` (crop fractions)."""
        target = np.asarray(template, dtype=np.float64) * size
        return cls(similarity_transform(np.asarray(landmarks), target), size)

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel."""
        return float(math.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def rotation_degrees(self) -> float:
        """The in-plane rotation the crop undoes, in degrees."""
        return math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0]))

    def photo_region(self, width: int, height: int, margin: int = 2) -> tuple[int, int, int, int]:
        """Return the (left, top, right, bottom) pixels of the photo the crop covers."""
        corners = np.array([[0, 0], [self.size, 0], [0, self.size], [self.size, self.size]], float)
        photo = _apply(_invert(self.matrix), corners)
        left = max(0, math.floor(photo[:, 0].min()) - margin)
        top = max(0, math.floor(photo[:, 1].min()) - margin)
        right = min(width, math.ceil(photo[:, 0].max()) + margin)
        bottom = min(height, math.ceil(photo[:, 1].max()) + margin)
        return left, top, max(left, right), max(top, bottom)

    def crop(self, rgb: np.ndarray) -> torch.Tensor:
        """Resample the face from ``rgb`` (H, W, 3) uint8: (3, S, S) in [-1, 1], outside black.

        Faces larger than the crop are first shrunk with a Lanczos filter (the warp alone would
        alias); only the photo region under the crop is ever copied.
        """
        height, width = rgb.shape[:2]
        left, top, right, bottom = self.photo_region(width, height)
        patch = Image.fromarray(rgb[top:bottom, left:right])
        shrink = min(1.0, 1.25 * self.scale)  # keep a little more detail than the crop needs
        if shrink < 1.0 and patch.width > 1 and patch.height > 1:
            size = (max(1, round(patch.width * shrink)), max(1, round(patch.height * shrink)))
            patch = patch.resize(size, Image.Resampling.LANCZOS)
        image = torch.from_numpy(np.asarray(patch).copy()).permute(2, 0, 1).float()
        # crop pixel centre -> photo coordinates -> coordinates in the (shrunk) patch
        coords = _apply(_invert(self.matrix), _pixel_centres(0, 0, self.size, self.size))
        coords[..., 0] = (coords[..., 0] - left) * (image.shape[-1] / max(1, right - left))
        coords[..., 1] = (coords[..., 1] - top) * (image.shape[-2] / max(1, bottom - top))
        out = (
            _sample(image, coords, "bilinear")
            if image.numel()
            else torch.zeros(3, self.size, self.size)
        )
        return out.div(127.5).sub(1.0)

    def paste(
        self,
        out: np.ndarray,
        full_mask: np.ndarray,
        change: torch.Tensor,
        mask: torch.Tensor,
        strength: float = 1.0,
    ) -> None:
        """Add an edited crop's change to ``out`` (H, W, 3) uint8 in place, through its mask.

        ``change`` is the model's change to its crop (`model_change`: AMN's image minus the
        crop), (3, S, S) in 8-bit levels; ``mask`` is (1, S, S) in [0, 1]. The mask, scaled by
        ``strength`` and tapered to 0 over the crop's outer 1/16, is warped back (bilinear),
        quantised to 8 bits and merged into ``full_mask`` (H, W) uint8 by maximum. The change is
        warped back bicubically and added to the photo's own pixels through the mask
        (`add_change`), so the photo keeps its full-resolution detail. Pixels whose 8-bit mask
        is 0 are not touched. `paste_edit` computes the change and picks the paste.
        """
        height, width = out.shape[:2]
        left, top, right, bottom = self.photo_region(width, height)
        if right <= left or bottom <= top:
            return
        taper = _border_taper(self.size, self.size / 16)
        weights = (mask.float().cpu()[0] * strength).clamp(0, 1) * taper
        coords = _apply(self.matrix, _pixel_centres(left, top, right - left, bottom - top))
        mask_u8 = quantise_mask(_sample(weights[None], coords, "bilinear")[0])
        change = _sample(change.float().cpu(), coords, "bicubic")
        add_change(out[top:bottom, left:right], mask_u8, change.permute(1, 2, 0).numpy())
        np.maximum(
            full_mask[top:bottom, left:right], mask_u8, out=full_mask[top:bottom, left:right]
        )


def paste_edit(
    out: np.ndarray,
    full_mask: np.ndarray,
    place: Box | FaceAlignment,
    amn_image: torch.Tensor,
    mask: torch.Tensor,
    strength: float = 1.0,
    *,
    crop: torch.Tensor,
    chroma_sigma: float = CHROMA_SIGMA,
) -> None:
    """Add one face's edit to ``out`` in place: the model's change to ``crop``, through its mask.

    ``place`` is the face's square box (`paste_box`) or its alignment (`FaceAlignment.paste`);
    ``crop`` is the generator's input and ``amn_image`` AMN's output, (3, S, S) in [-1, 1], and
    ``mask`` SAN's, (1, S, S) in [0, 1]; ``chroma_sigma`` as for `model_change`.
    """
    change = model_change(amn_image, crop, chroma_sigma)
    if isinstance(place, FaceAlignment):
        place.paste(out, full_mask, change, mask, strength)
    else:
        paste_box(out, full_mask, place, change, mask, strength)


def is_aligned(
    landmarks: np.ndarray,
    template: Sequence[Sequence[float]],
    side: float,
    origin: tuple[float, float] = (0.0, 0.0),
    *,
    tolerance: float = 0.06,
) -> bool:
    """Whether a face already sits in the square crop ``(origin, side)`` as the template says.

    True when every landmark lies within ``tolerance`` (a fraction of ``side``) of its template
    place: the image is then already an aligned crop like the training data.
    """
    points = (np.asarray(landmarks, dtype=np.float64) - origin) / side
    distance = np.hypot(*(points - np.asarray(template, dtype=np.float64)).T)
    return bool(np.all(distance <= tolerance))


def derive_template(
    images: Iterable[np.ndarray],
    detector: FaceDetector | None = None,
    *,
    min_face_size: int = 40,
) -> tuple[np.ndarray, int, int]:
    """Average the detector's landmarks over square training crops: where faces sit in them.

    Each image must be an (S, S, 3) uint8 crop exactly as the model is trained on (so the
    template and the detector agree). Images with no face, or several, are skipped. Returns
    ``(template, used, skipped)``, the template as a (3, 2) array of fractions of the side.
    """
    detector = detector or get_detector()
    total = np.zeros((len(LANDMARK_NAMES), 2))
    used = skipped = 0
    for rgb in images:
        side = rgb.shape[0]
        if rgb.shape[1] != side:
            raise ValueError(f"training crops are square, got {rgb.shape[1]}x{side}")
        faces = detector.detect(rgb, min_face_size=min_face_size)
        if len(faces) != 1:
            skipped += 1
            continue
        total += faces[0].landmarks / side
        used += 1
    if used == 0:
        raise NoFaceFoundError("the detector found a face in none of the images")
    return total / used, used, skipped

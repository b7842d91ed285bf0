"""Faces in real photos: detection, landmarks, alignment to the training crop, and paste-back.

A SaGAN model only knows faces framed like its training images. To edit a photo, each face is

1. **found** by a detector that also gives three landmarks: the two eye centres and the nose
   (`DlibFaceDetector`, from the optional extra ``pip install "sagan-edit[align]"``);
2. **aligned**: the similarity transform (rotation, uniform scale, translation) that best maps
   those landmarks onto the model's *template* — where the same detector puts them on the
   training crops — is fitted by least squares (`similarity_transform`), and the face is
   resampled into a ``image_size`` square through it (`FaceAlignment.crop`);
3. **edited** at the model's resolution;
4. **pasted back**: AMN's image and the attention mask are warped back into the photo through the
   inverse transform, at the photo's full resolution, and composited through the 8-bit mask
   (`FaceAlignment.paste`). The mask is tapered to zero at the crop's border so no seam shows;
   every pixel whose mask is 0 stays bit-for-bit the input.

**Coordinates.** Points are continuous pixel coordinates: pixel ``(i, j)`` covers ``[j, j+1] x
[i, i+1]``, so its centre is ``(j + 0.5, i + 0.5)``. Templates are fractions of the crop's side.

**Why dlib.** The detector must run offline, with weights inside a PyPI package, beside any torch
and numpy 2. dlib's HOG face detector is built into the ``dlib-bin`` wheel, and the 5-point
landmark model of ``face_recognition_models`` (CC0) gives both corners of each eye and the bottom
of the nose. facenet-pytorch's MTCNN (five points, mouth included) imports torchvision, which
does not import beside every torch build; dlib's 68-point model gives the mouth too, but was
trained on iBUG 300-W, whose licence excludes commercial use. The HOG detector finds roughly
frontal faces (about +-30 degrees of yaw and in-plane rotation), which is also the range a
CelebA-trained model edits well.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import AlignmentUnavailableError, NoFaceFoundError
from .imaging import blend, quantise_mask

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
    "similarity_transform",
]

LANDMARK_NAMES = ("right_eye", "left_eye", "nose")
"""The landmarks, in order: the person's right eye (on the image's left in an upright,
unmirrored face), their left eye, and the bottom of the nose."""

# Measured with `derive_template` and `DlibFaceDetector` (see scripts/derive_template.py):
#: CelebA-HQ crops (``../shared/data/celebahq128``, 1,000 training images).
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

INSTALL_HINT = 'pip install "sagan-edit[align]"'
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
    """The detector's confidence (dlib's HOG score; higher is surer)."""

    @property
    def size(self) -> int:
        """Width of the detector's box, in photo pixels."""
        return self.box[2] - self.box[0]


class FaceDetector(Protocol):
    """Anything that finds faces and their `LANDMARK_NAMES` landmarks in an RGB uint8 array."""

    def detect(self, rgb: np.ndarray, *, min_face_size: int = 80) -> list[Face]:
        """Return the faces in ``rgb`` (H, W, 3), largest at least ``min_face_size`` wide."""
        ...


def _landmark_model_path() -> str:
    override = os.environ.get("SAGAN_LANDMARKS")
    if override:
        return override
    spec = importlib.util.find_spec("face_recognition_models")
    # not imported: its __init__ needs pkg_resources, which recent setuptools no longer ship
    if spec is None or not spec.submodule_search_locations:
        raise AlignmentUnavailableError(f"face alignment needs the landmark model: {INSTALL_HINT}")
    folder = list(spec.submodule_search_locations)[0]
    return os.path.join(folder, "models", "shape_predictor_5_face_landmarks.dat")


class DlibFaceDetector:
    """dlib's HOG face detector with its 5-point landmark model (module docstring: why dlib).

    The photo is scaled so that a face ``min_face_size`` pixels wide fills dlib's 80-pixel
    detection window, but to at most 2 megapixels (on larger photos the smallest face found is
    correspondingly larger). Detections scoring below ``score_threshold`` are dropped: on
    CelebA and CelebA-HQ test images real faces score above 0.7, while the false positives seen
    on the example photo (a badge, a helmet) scored 0.15-0.37. The eye centres are the means of
    each eye's two corners.
    """

    def __init__(
        self, landmark_model: str | os.PathLike[str] | None = None, score_threshold: float = 0.5
    ) -> None:
        try:
            import dlib
        except ImportError:
            raise AlignmentUnavailableError(f"face detection needs dlib: {INSTALL_HINT}") from None
        path = os.fspath(landmark_model) if landmark_model else _landmark_model_path()
        if not os.path.isfile(path):
            raise AlignmentUnavailableError(f"landmark model {path} is missing: {INSTALL_HINT}")
        self.score_threshold = score_threshold
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(path)
        self._lock = threading.Lock()  # dlib's objects are not documented as thread-safe

    def detect(self, rgb: np.ndarray, *, min_face_size: int = 80) -> list[Face]:
        """Return the faces in ``rgb`` (H, W, 3) uint8, sorted left to right."""
        height, width = rgb.shape[:2]
        scale = _DETECTOR_SIDE / max(1, min_face_size)
        scale = min(scale, math.sqrt(_MAX_DETECTION_PIXELS / max(1, width * height)))
        if abs(scale - 1) > 1e-3:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = np.asarray(
                Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            )
            scale_x, scale_y = size[0] / width, size[1] / height
        else:
            image, scale_x, scale_y = np.ascontiguousarray(rgb), 1.0, 1.0
        with self._lock:
            rects, scores, _ = self._detector.run(image, 0, self.score_threshold)
            shapes = [self._predictor(image, rect) for rect in rects]
        faces = []
        for rect, score, shape in zip(rects, scores, shapes, strict=True):
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64) + 0.5
            # dlib's order: image-right eye (2 corners), image-left eye (2 corners), nose
            landmarks = np.stack([points[2:4].mean(0), points[0:2].mean(0), points[4]])
            landmarks /= (scale_x, scale_y)
            box = (
                max(0, math.floor(rect.left() / scale_x)),
                max(0, math.floor(rect.top() / scale_y)),
                min(width, math.ceil((rect.right() + 1) / scale_x)),
                min(height, math.ceil((rect.bottom() + 1) / scale_y)),
            )
            face = Face(box, landmarks, float(score))
            if face.size >= min_face_size:
                faces.append(face)
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))


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
        amn_image: torch.Tensor,
        mask: torch.Tensor,
        strength: float = 1.0,
    ) -> None:
        """Composite an edited crop into ``out`` (H, W, 3) uint8 in place, through its mask.

        ``amn_image`` is (3, S, S) in [-1, 1], ``mask`` (1, S, S) in [0, 1]. The mask, scaled by
        ``strength`` and tapered to 0 over the crop's outer 1/16, is warped back (bilinear),
        quantised to 8 bits and merged into ``full_mask`` (H, W) uint8 by maximum; AMN's image is
        warped back bicubically. Pixels whose 8-bit mask is 0 are not touched.
        """
        height, width = out.shape[:2]
        left, top, right, bottom = self.photo_region(width, height)
        if right <= left or bottom <= top:
            return
        taper = _border_taper(self.size, self.size / 16)
        weights = (mask.float().cpu()[0] * strength).clamp(0, 1) * taper
        coords = _apply(self.matrix, _pixel_centres(left, top, right - left, bottom - top))
        warped_mask = _sample(weights[None], coords, "bilinear")[0]
        mask_u8 = quantise_mask(warped_mask)
        amn = amn_image.float().cpu().add(1).mul(127.5)
        warped = _sample(amn, coords, "bicubic").clamp(0, 255).permute(1, 2, 0).numpy()
        blend(out[top:bottom, left:right], mask_u8, warped)
        np.maximum(
            full_mask[top:bottom, left:right], mask_u8, out=full_mask[top:bottom, left:right]
        )


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

"""Shared fixtures: tiny random models, stand-in photos, faces and networks, a fake local Hub."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hub_server import FakeHub
from PIL import Image

from sagan_edit import SaGAN, SaGANConfig
from sagan_edit.align import CELEBAHQ_TEMPLATE, Face

TINY_ATTRIBUTE = "eyeglasses"

# The library has no default data folder; the tests read the CelebA data from $SAGAN_DATA or, when
# it is unset, from ../shared/data beside the checkout (tests needing it skip when it is absent).
if not os.environ.get("SAGAN_DATA"):
    os.environ["SAGAN_DATA"] = str(Path(__file__).resolve().parents[2] / "shared" / "data")


def make_tiny_model(seed: int = 0, attribute: str = TINY_ATTRIBUTE) -> SaGAN:
    """Return a small random-weight `SaGAN` (64x64, 4 base channels, 1 residual block)."""
    torch.manual_seed(seed)
    config = SaGANConfig(attribute, image_size=64, base_channels=4, num_residual_blocks=1)
    return SaGAN(config)


@pytest.fixture
def tiny_model() -> SaGAN:
    """A small random-weight `SaGAN` (seed 0)."""
    return make_tiny_model()


@pytest.fixture
def tiny_model_dir(tmp_path: Path, tiny_model: SaGAN) -> Path:
    """A folder saved by ``tiny_model.save_pretrained`` (config, weights and model card)."""
    return tiny_model.save_pretrained(tmp_path / "tiny-model")


@pytest.fixture
def make_model_dir(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_model_dir(name, seed=0, attribute="eyeglasses")`` saves a tiny model."""

    def make(name: str, seed: int = 0, attribute: str = TINY_ATTRIBUTE) -> Path:
        return make_tiny_model(seed, attribute).save_pretrained(tmp_path / "models" / name)

    return make


def smooth_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 stand-in photo: 8x8 random colours, bilinearly enlarged."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return np.array(Image.fromarray(low).resize((width, height), Image.Resampling.BILINEAR))


def textured_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A stand-in photo with fine detail: `smooth_photo` in [60, 190] plus pixel noise of +-40."""
    rng = np.random.default_rng(seed)
    base = smooth_photo(width, height, seed).astype(np.int16) // 2 + 60
    noise = rng.integers(-40, 41, size=base.shape, dtype=np.int16)
    return (base + noise).astype(np.uint8)


def fine_detail(rgb: np.ndarray) -> float:
    """Energy of an image's finest detail: the image minus its 3x3 box blur, squared, summed."""
    x = rgb.astype(np.float64)
    height, width = x.shape[:2]
    shifts = [(dy, dx) for dy in (0, 1, 2) for dx in (0, 1, 2)]
    blur = sum(x[dy : height - 2 + dy, dx : width - 2 + dx] for dy, dx in shifts) / 9
    return float(((x[1:-1, 1:-1] - blur) ** 2).sum())


def rotation(degrees: float) -> np.ndarray:
    """The 2x2 matrix of a rotation by ``degrees`` (counter-clockwise in x-right, y-up axes)."""
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def face_at(centre_x: float, centre_y: float, side: float, degrees: float = 0.0) -> Face:
    """A face whose landmarks sit where the template puts them in a crop of ``side`` pixels."""
    points = (np.asarray(CELEBAHQ_TEMPLATE) - 0.5) * side
    landmarks = points @ rotation(degrees).T + (centre_x, centre_y)
    half = side / 2
    box = (int(centre_x - half), int(centre_y - half), int(centre_x + half), int(centre_y + half))
    return Face(box, landmarks, 1.0)


class StubDetector:
    """A face detector that 'finds' the faces it was given in any photo, and counts its calls."""

    def __init__(self, faces: list[Face]) -> None:
        self.faces = faces
        self.calls = 0

    def detect(self, rgb: np.ndarray, *, min_face_size: int = 80) -> list[Face]:
        """The given faces at least ``min_face_size`` wide."""
        self.calls += 1
        return [f for f in self.faces if f.size >= min_face_size]


class ShiftAMN(torch.nn.Module):
    """A stand-in AMN whose image is its input plus ``shift`` (0: the model changes nothing).

    ``shift`` is one number for all channels, or one per channel (R, G, B): a colour change.
    """

    def __init__(self, shift: float | tuple[float, float, float] = 0.0) -> None:
        super().__init__()
        # a parameter, so that the model still has a device and a dtype
        shift = torch.tensor(shift, dtype=torch.float32).view(-1, 1, 1)
        self.shift = torch.nn.Parameter(shift, requires_grad=False)

    def forward(self, image: torch.Tensor, attribute: torch.Tensor) -> torch.Tensor:
        """The input crop, shifted."""
        return image + self.shift


class FullMask(torch.nn.Module):
    """A stand-in SAN whose mask is 1 everywhere."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Ones, (N, 1, H, W)."""
        return torch.ones(image.shape[0], 1, *image.shape[2:], dtype=image.dtype)


@contextmanager
def stand_ins(model: SaGAN, amn: torch.nn.Module, san: torch.nn.Module) -> Iterator[SaGAN]:
    """Run ``model`` with stand-ins for its AMN and SAN inside the block; restore them after."""
    generator = model.generator
    saved = generator.amn, generator.san
    generator.amn, generator.san = amn, san
    try:
        yield model
    finally:
        generator.amn, generator.san = saved


def point_hf_hub_at(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, hf_home: Path, *, offline: bool = False
) -> None:
    """Point this process's huggingface_hub at ``endpoint`` with its cache under ``hf_home``.

    huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at import, into
    ``huggingface_hub.constants``; its download code then reads those constants at call time, so
    patching them (not the environment) is what takes effect in-process. The environment is set
    too, for subprocesses started by the test (see `hf_env`).
    """
    from huggingface_hub import close_session, constants

    endpoint = endpoint.rstrip("/")
    hub_cache = hf_home / "hub"
    patches = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_HOME": endpoint + "/",
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": offline,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hub_cache),
    }
    # Other files huggingface_hub may read or write under HF_HOME (not all exist in every release);
    # the token paths also keep the developer's real login token out of the tests.
    optional = {
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(hf_home / ".agent_harnesses.json"),
        "CHECK_FOR_UPDATE_DONE_PATH": str(hf_home / ".check_for_update_done"),
        "CHECK_FOR_SKILL_UPDATE_DONE_PATH": str(hf_home / ".check_for_skill_update_done"),
    }
    for name, value in patches.items():
        monkeypatch.setattr(constants, name, value)
    for name, value in optional.items():
        monkeypatch.setattr(constants, name, value, raising=False)
    for name, value in hf_env(endpoint, hf_home, offline=offline).items():
        monkeypatch.setenv(name, value)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    # the shared HTTP client read proxy settings when it was made; start a fresh one
    close_session()


def hf_env(endpoint: str, hf_home: Path, *, offline: bool = False) -> dict[str, str]:
    """Environment variables that point a new process's huggingface_hub at ``endpoint``."""
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    return {
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "1" if offline else "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


@pytest.fixture
def hf_home(tmp_path: Path) -> Path:
    """A fresh, empty huggingface_hub home folder for this test (cache in ``hf_home / "hub"``)."""
    return tmp_path / "hf-home"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, hf_home: Path) -> Iterator[FakeHub]:
    """A running `FakeHub` with huggingface_hub (in-process and in subprocesses) pointed at it.

    Add repos with ``fake_hub.add(repo_id, folder, revision="main")``; the cache is ``hf_home``.
    """
    with FakeHub() as hub:
        point_hf_hub_at(monkeypatch, hub.url, hf_home)
        yield hub
    from huggingface_hub import close_session

    close_session()


@pytest.fixture
def hf_offline(monkeypatch: pytest.MonkeyPatch, fake_hub: FakeHub, hf_home: Path) -> FakeHub:
    """Like ``fake_hub``, with HF_HUB_OFFLINE=1 in force (so the server must see no request)."""
    point_hf_hub_at(monkeypatch, fake_hub.url, hf_home, offline=True)
    return fake_hub


@pytest.fixture
def no_embedded_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Aliases stand for their Hub repos: no model is embedded (unless a test adds one here)."""
    from sagan_edit import hub

    folder = tmp_path / "embedded"
    monkeypatch.setattr(hub, "EMBEDDED_WEIGHTS", folder)
    return folder


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random "Smiling" model saved with ``save_pretrained`` (pass it as ``--weights``)."""
    torch.manual_seed(0)
    model = SaGAN(SaGANConfig("smiling", image_size=64, base_channels=4, num_residual_blocks=1))
    return model.save_pretrained(tmp_path_factory.mktemp("weights") / "tiny-smiling")

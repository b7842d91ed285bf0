"""Shared fixtures: tiny random models and a local fake Hugging Face Hub (no network needed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from hub_server import FakeHub

from sagan_edit import SaGAN, SaGANConfig

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


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random "Smiling" model saved with ``save_pretrained`` (pass it as ``--weights``)."""
    torch.manual_seed(0)
    model = SaGAN(SaGANConfig("smiling", image_size=64, base_channels=4, num_residual_blocks=1))
    return model.save_pretrained(tmp_path_factory.mktemp("weights") / "tiny-smiling")

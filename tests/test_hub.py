"""Finding weights: the Hub (through a local fake of its resolve endpoint), cache, offline, errors.

Every Hub test runs the real ``huggingface_hub`` client against `hub_server.FakeHub` on
127.0.0.1 with a per-test cache (see the ``fake_hub`` fixture in conftest.py); nothing here
touches the network or the user's cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import hf_env, make_tiny_model, point_hf_hub_at
from hub_server import FakeHub
from safetensors.torch import load_file, save_file

from sagan_edit import (
    PRETRAINED,
    InvalidWeightsError,
    SaGAN,
    SaGANError,
    WeightsNotFoundError,
    hub,
)
from sagan_edit.hub import WEIGHTS_NAME, resolve_weights_folder

REPO = "someone/sagan-tiny"


@pytest.fixture(autouse=True)
def _aliases_stand_for_hub_repos(no_embedded_models: Path) -> None:
    """Here no model is embedded (unless a test adds one to ``no_embedded_models``)."""


def weights(model: SaGAN) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: SaGAN | dict[str, torch.Tensor], b: SaGAN | dict[str, torch.Tensor]) -> bool:
    a = weights(a) if isinstance(a, SaGAN) else a
    b = weights(b) if isinstance(b, SaGAN) else b
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert message and "\n" not in message, f"not one line: {message!r}"
    assert "Traceback" not in message
    return message


# ---------------------------------------------------------------------------- downloads


def test_first_download_into_an_empty_cache(fake_hub: FakeHub, make_model_dir, hf_home: Path):
    folder = make_model_dir("a", seed=1)
    commit = fake_hub.add(REPO, folder)
    assert not hf_home.exists()

    model = SaGAN.from_pretrained(REPO, device="cpu")

    assert same_weights(model, SaGAN.from_pretrained(folder, device="cpu"))
    assert model.attribute == "Eyeglasses" and model.config.base_channels == 4
    assert fake_hub.downloads("config.json") == 1
    assert fake_hub.downloads(WEIGHTS_NAME) == 1
    # The weights came through the CDN redirect, as on the real Hub.
    assert fake_hub.count("GET", WEIGHTS_NAME, server="cdn") == 1
    snapshot = hf_home / "hub" / "models--someone--sagan-tiny" / "snapshots" / commit
    assert (snapshot / WEIGHTS_NAME).read_bytes() == (folder / WEIGHTS_NAME).read_bytes()
    assert (snapshot / "config.json").is_file()
    assert resolve_weights_folder(REPO) == snapshot


def test_cached_second_load_downloads_nothing_and_survives_a_dead_hub(
    fake_hub: FakeHub, make_model_dir, monkeypatch, hf_home: Path
):
    fake_hub.add(REPO, make_model_dir("a", seed=1))
    first = SaGAN.from_pretrained(REPO, device="cpu")
    fake_hub.clear()

    second = SaGAN.from_pretrained(REPO, device="cpu")
    assert same_weights(first, second)
    assert fake_hub.downloads(WEIGHTS_NAME) == 0 and fake_hub.downloads("config.json") == 0
    assert fake_hub.count("HEAD", WEIGHTS_NAME) == 1  # "main" is still checked for updates

    # With the Hub gone (connection refused), the cached copy is used, without waiting.
    endpoint = fake_hub.url
    fake_hub.stop()
    point_hf_hub_at(monkeypatch, endpoint, hf_home)
    start = time.perf_counter()
    third = SaGAN.from_pretrained(REPO, device="cpu")
    assert time.perf_counter() - start < 10  # retrying would take ~23 s
    assert same_weights(first, third)


def test_revision_serves_a_different_model(fake_hub: FakeHub, make_model_dir):
    main, old = make_model_dir("main", seed=1), make_model_dir("v1", seed=2)
    fake_hub.add(REPO, main, revision="main")
    v1_commit = fake_hub.add(REPO, old, revision="v1")

    latest = SaGAN.from_pretrained(REPO, device="cpu")
    tagged = SaGAN.from_pretrained(REPO, revision="v1", device="cpu")
    pinned = SaGAN.from_pretrained(REPO, revision=v1_commit, device="cpu")

    assert not same_weights(latest, tagged)
    assert same_weights(latest, SaGAN.from_pretrained(main, device="cpu"))
    assert same_weights(tagged, SaGAN.from_pretrained(old, device="cpu"))
    assert same_weights(tagged, pinned)
    assert resolve_weights_folder(REPO, revision="v1").name == v1_commit

    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained(REPO, revision="v9")
    message = one_line(error)
    assert REPO in message and "'v9'" in message and "revision" in message


def test_missing_repo_names_it(fake_hub: FakeHub):
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained("nobody/no-such-model")
    message = one_line(error)
    assert "nobody/no-such-model" in message and "does not exist" in message
    assert "local model folder" in message and "--" not in message  # Python words, no CLI flags
    assert isinstance(error.value, SaGANError) and isinstance(error.value, FileNotFoundError)
    assert fake_hub.count(filename="config.json") >= 1  # it really asked the (fake) Hub

    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained("my models/glasses")  # neither a folder nor a valid repo id
    assert "'my models/glasses'" in one_line(error) and "not a local folder" in str(error.value)


def test_repo_without_weights_or_config_is_a_clear_error(fake_hub: FakeHub, make_model_dir):
    no_weights = make_model_dir("no-weights")
    (no_weights / WEIGHTS_NAME).unlink()
    fake_hub.add("someone/config-only", no_weights)
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained("someone/config-only")
    message = one_line(error)
    assert "someone/config-only" in message and f"has no {WEIGHTS_NAME}" in message

    # e.g. a transformers repo: files, but not ours
    other = make_model_dir("other")
    (other / "config.json").unlink()
    fake_hub.add("someone/other-library", other)
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained("someone/other-library")
    assert "someone/other-library" in one_line(error) and "has no config.json" in str(error.value)


def test_hub_config_of_the_wrong_kind(fake_hub: FakeHub, make_model_dir):
    folder = make_model_dir("bert")
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    fake_hub.add("someone/bert-ish", folder)
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained("someone/bert-ish")
    assert "not a sagan-edit SaGAN model config" in one_line(error) and "'bert'" in str(error.value)


@pytest.mark.parametrize("alias", ["eyeglasses", "Eyeglasses"])
def test_alias_resolves_to_its_repo_id(fake_hub: FakeHub, make_model_dir, alias: str):
    folder = make_model_dir("glasses", seed=3)
    fake_hub.add(PRETRAINED["eyeglasses"], folder)
    model = SaGAN.from_pretrained(alias, device="cpu")
    assert same_weights(model, SaGAN.from_pretrained(folder, device="cpu"))
    paths = {r.path for r in fake_hub.requests if r.server == "hub" and "/resolve/" in r.path}
    assert paths and all(p.startswith("/sagan-edit/sagan-eyeglasses/resolve/main/") for p in paths)


def test_alias_loads_its_embedded_model_with_no_network(
    hf_offline: FakeHub, make_model_dir, no_embedded_models: Path
):
    shutil.copytree(make_model_dir("glasses", seed=4), no_embedded_models / "eyeglasses")
    hf_offline.stop()  # no Hub at all, and HF_HUB_OFFLINE=1
    model = SaGAN.from_pretrained("Eyeglasses", device="cpu")
    assert same_weights(model, SaGAN.from_pretrained(no_embedded_models / "eyeglasses"))
    assert resolve_weights_folder("eyeglasses") == no_embedded_models / "eyeglasses"
    assert hub.embedded_model_folder("smiling") is None  # not embedded: the alias means the Hub


def test_alias_at_a_revision_loads_from_the_hub(
    fake_hub: FakeHub, make_model_dir, no_embedded_models: Path
):
    shutil.copytree(make_model_dir("embedded", seed=4), no_embedded_models / "eyeglasses")
    fake_hub.add(PRETRAINED["eyeglasses"], make_model_dir("hub", seed=9), revision="v2")
    model = SaGAN.from_pretrained("eyeglasses", revision="v2", device="cpu")
    assert same_weights(model, SaGAN.from_pretrained(make_model_dir("hub", seed=9)))


def test_unreachable_hub_fails_at_once_with_one_line(fake_hub: FakeHub, monkeypatch, hf_home):
    """No network and no HF_HUB_OFFLINE: one quick answer, not ~23 s of retries."""
    endpoint = fake_hub.url
    fake_hub.stop()
    point_hf_hub_at(monkeypatch, endpoint, hf_home)
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained("eyeglasses")
    assert time.perf_counter() - start < 10  # retrying would take ~23 s
    message = one_line(error)
    assert "sagan-edit/sagan-eyeglasses" in message and "could not be reached" in message
    assert "local model folder" in message and "--" not in message


# ---------------------------------------------------------------------------- offline


@pytest.mark.parametrize("name", ["eyeglasses", REPO])
def test_offline_with_nothing_cached_is_immediate_and_says_what_to_do(
    hf_offline: FakeHub, make_model_dir, name: str
):
    hf_offline.add(REPO, make_model_dir("a"))
    hf_offline.add(PRETRAINED["eyeglasses"], make_model_dir("a"))
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained(name)
    assert time.perf_counter() - start < 10  # retrying would take ~23 s
    message = one_line(error)
    repo_id = PRETRAINED.get(name, name)
    assert repo_id in message and "HF_HUB_OFFLINE" in message
    assert "download them once" in message and "local model folder" in message
    assert "--" not in message
    assert hf_offline.requests == []


def test_offline_with_a_cache_loads(fake_hub: FakeHub, make_model_dir, monkeypatch, hf_home):
    fake_hub.add(REPO, make_model_dir("a", seed=1))
    online = SaGAN.from_pretrained(REPO, device="cpu")
    point_hf_hub_at(monkeypatch, fake_hub.url, hf_home, offline=True)
    fake_hub.clear()
    offline = SaGAN.from_pretrained(REPO, device="cpu")
    assert same_weights(online, offline)
    assert fake_hub.requests == []


def test_local_files_only(fake_hub: FakeHub, make_model_dir):
    fake_hub.add(REPO, make_model_dir("a", seed=1))
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained(REPO, local_files_only=True)
    message = one_line(error)
    assert REPO in message and "local_files_only=True" in message
    assert fake_hub.requests == []

    online = SaGAN.from_pretrained(REPO, device="cpu")
    fake_hub.clear()
    cached = SaGAN.from_pretrained(REPO, local_files_only=True, device="cpu")
    assert same_weights(online, cached) and fake_hub.requests == []


def test_cache_dir_argument_is_used(fake_hub: FakeHub, make_model_dir, tmp_path, hf_home):
    fake_hub.add(REPO, make_model_dir("a"))
    cache = tmp_path / "my-cache"
    folder = resolve_weights_folder(REPO, cache_dir=cache)
    assert folder.is_relative_to(cache) and (folder / WEIGHTS_NAME).is_file()
    assert not (hf_home / "hub").exists()


def test_offline_environment_variable_in_a_fresh_process(
    fake_hub: FakeHub, make_model_dir, hf_home: Path
):
    """HF_HUB_OFFLINE=1, HF_HOME, HF_ENDPOINT set as a user does (read at import: new process)."""
    fake_hub.add(REPO, make_model_dir("glasses", seed=5))
    online = SaGAN.from_pretrained(REPO, device="cpu")  # fills hf_home's cache
    script = f"""
import json, time
import huggingface_hub
from sagan_edit import SaGAN, WeightsNotFoundError
out = {{"endpoint": huggingface_hub.constants.ENDPOINT}}
model = SaGAN.from_pretrained("{REPO}", device="cpu")
out["sum"] = float(sum(v.double().sum() for v in model.state_dict().values()))
start = time.perf_counter()
try:
    SaGAN.from_pretrained("someone/never-downloaded")
except WeightsNotFoundError as exc:
    out["error"] = str(exc)
out["seconds"] = time.perf_counter() - start
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(hf_env(fake_hub.url, hf_home, offline=True))
    fake_hub.clear()
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["endpoint"] == fake_hub.url
    assert result["sum"] == float(sum(v.double().sum() for v in online.state_dict().values()))
    assert "someone/never-downloaded" in result["error"] and "HF_HUB_OFFLINE=1" in result["error"]
    assert result["seconds"] < 10  # retrying would take ~23 s
    assert fake_hub.requests == []


# ---------------------------------------------------------------------------- bad local folders


def _bad_folder(tiny_model_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, folder)
    return folder


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:5], id="truncated-header"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: os.urandom(len(data)), id="random-bytes"),
        pytest.param(lambda data: b"<html>Not Found</html>", id="html-page"),
    ],
)
def test_corrupt_weights_file(tiny_model_dir: Path, tmp_path: Path, damage):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    weights_file = folder / WEIGHTS_NAME
    weights_file.write_bytes(damage(weights_file.read_bytes()))
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    message = one_line(error)
    assert str(weights_file) in message and "not a valid safetensors file" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tiny_model_dir: Path, tmp_path: Path, bad: float):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    tensors = load_file(folder / WEIGHTS_NAME)
    name = sorted(tensors)[0]
    tensors[name] = torch.full_like(tensors[name], bad)
    save_file(tensors, folder / WEIGHTS_NAME)
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    assert name in one_line(error) and "NaN or infinite" in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (json.dumps({"model_type": "bert", "hidden_size": 768}), "model_type is 'bert'"),
        (json.dumps({"architectures": ["UNet2DModel"], "sample_size": 64}), "model_type is None"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
    ],
)
def test_config_of_the_wrong_kind(tiny_model_dir: Path, tmp_path: Path, text: str, expected: str):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    (folder / "config.json").write_text(text)
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    message = one_line(error)
    assert expected in message and "config.json" in message


def test_folder_without_weights_or_config(tiny_model_dir: Path, tmp_path: Path):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    (folder / WEIGHTS_NAME).unlink()
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    assert WEIGHTS_NAME in one_line(error) and "holds no weights" in str(error.value)

    (folder / "config.json").unlink()
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    assert "has no config.json" in one_line(error)


def test_missing_path_or_a_file_instead_of_a_folder(tiny_model_dir: Path, tmp_path: Path):
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained(tmp_path / "nowhere")
    assert "nowhere" in one_line(error) and "known alias" in str(error.value)
    with pytest.raises(WeightsNotFoundError) as error:
        SaGAN.from_pretrained(tiny_model_dir / WEIGHTS_NAME)
    assert "is a file" in one_line(error)


def _edit_tensors(folder: Path, edit) -> None:
    tensors = load_file(str(folder / WEIGHTS_NAME))
    edit(tensors)
    save_file(tensors, str(folder / WEIGHTS_NAME))


def test_missing_tensor_is_named(tiny_model_dir: Path, tmp_path: Path):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    name = sorted(load_file(str(folder / WEIGHTS_NAME)))[0]
    _edit_tensors(folder, lambda t: t.pop(name))
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    assert repr(name) in one_line(error) and "lacks 1 tensor" in str(error.value)


def test_mis_shaped_tensor_is_named(tiny_model_dir: Path, tmp_path: Path):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    name = next(k for k, v in load_file(str(folder / WEIGHTS_NAME)).items() if v.ndim == 4)
    _edit_tensors(folder, lambda t: t.update({name: torch.zeros(3, 3, 3, 3)}))
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    message = one_line(error)
    assert repr(name) in message and "(3, 3, 3, 3)" in message


def test_unexpected_tensor_is_named_but_discriminator_is_ignored(
    tiny_model_dir: Path, tmp_path: Path, tiny_model: SaGAN
):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    _edit_tensors(folder, lambda t: t.update({"discriminator.conv.weight": torch.ones(2)}))
    assert same_weights(SaGAN.from_pretrained(folder, device="cpu"), tiny_model)

    _edit_tensors(folder, lambda t: t.update({"generator.extra.weight": torch.ones(2)}))
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    assert "'generator.extra.weight'" in one_line(error)


def test_weights_that_do_not_match_the_config(tiny_model_dir: Path, tmp_path: Path):
    folder = _bad_folder(tiny_model_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "base_channels": 8}))
    with pytest.raises(InvalidWeightsError) as error:
        SaGAN.from_pretrained(folder)
    assert "does it match config.json?" in one_line(error)


# ---------------------------------------------------------------------------- saving and pushing


def test_save_pretrained_round_trip_and_atomic_files(tiny_model: SaGAN, tmp_path: Path):
    folder = tiny_model.save_pretrained(tmp_path / "out" / "nested")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", WEIGHTS_NAME]
    assert same_weights(SaGAN.from_pretrained(folder, device="cpu"), tiny_model)
    # saving again over an existing folder replaces the files and leaves no temporaries behind
    make_tiny_model(seed=9).save_pretrained(folder, model_card=False)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", WEIGHTS_NAME]
    assert same_weights(SaGAN.from_pretrained(folder, device="cpu"), make_tiny_model(seed=9))


def test_push_to_hub_uploads_a_loadable_folder(
    fake_hub: FakeHub, tiny_model: SaGAN, monkeypatch, tmp_path: Path
):
    from huggingface_hub import HfApi

    calls: dict[str, Any] = {}
    uploaded = tmp_path / "uploaded"

    def create_repo(self: HfApi, repo_id: str, **kwargs: Any) -> str:
        calls["create_repo"] = (repo_id, kwargs, self.token)
        return f"{fake_hub.url}/{repo_id}"

    def upload_folder(self: HfApi, *, repo_id: str, folder_path: str, **kwargs: Any) -> Any:
        calls["upload_folder"] = (repo_id, kwargs)
        shutil.copytree(folder_path, uploaded)  # the folder is temporary: keep what was sent

        class Commit:
            commit_url = f"{fake_hub.url}/{repo_id}/commit/abc123"

        return Commit()

    def create_branch(self: HfApi, repo_id: str, *, branch: str, **kwargs: Any) -> None:
        calls.setdefault("create_branch", []).append((repo_id, branch, kwargs))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)

    url = tiny_model.push_to_hub(
        "me/pushed", token="hf_fake", private=True, commit_message="first upload"
    )

    assert url == f"{fake_hub.url}/me/pushed/commit/abc123"
    repo_id, kwargs, token = calls["create_repo"]
    assert (repo_id, token) == ("me/pushed", "hf_fake")
    assert kwargs["private"] is True and kwargs["exist_ok"] is True
    assert calls["upload_folder"][0] == "me/pushed"
    assert calls["upload_folder"][1]["commit_message"] == "first upload"
    assert "create_branch" not in calls
    assert sorted(p.name for p in uploaded.iterdir()) == ["README.md", "config.json", WEIGHTS_NAME]
    card = (uploaded / "README.md").read_text()
    front_matter = card.split("---\n")[1]
    assert card.startswith("---\n") and "library_name: sagan-edit" in front_matter.splitlines()
    assert "Eyeglasses" in front_matter
    assert fake_hub.requests == []  # nothing reached any server

    # What was uploaded is what a user downloads.
    fake_hub.add("me/pushed", uploaded)
    assert same_weights(SaGAN.from_pretrained("me/pushed", device="cpu"), tiny_model)

    # Pushing to a new branch creates it first (upload_folder alone would fail there).
    shutil.rmtree(uploaded)
    tiny_model.push_to_hub("me/pushed", revision="experiment")
    assert calls["create_branch"] == [("me/pushed", "experiment", {"exist_ok": True})]
    assert calls["upload_folder"][1]["revision"] == "experiment"


# ------------------------------------------------------------------- publishing the embedded models
# These run huggingface_hub's real upload code (create_repo, create_branch, upload_folder) against
# the fake Hub's upload endpoints; nothing in HfApi is patched.

TOKEN = "hf_fake_write_token"


def embed(no_embedded_models: Path, make_model_dir, alias: str, seed: int) -> Path:
    """Embed a tiny model for ``alias`` (what ``sagan_edit/weights/<alias>/`` would hold)."""
    attribute = "smiling" if alias == "smiling" else "eyeglasses"
    source = make_model_dir(f"{alias}-{seed}", seed=seed, attribute=attribute)
    target = no_embedded_models / alias
    shutil.rmtree(target, ignore_errors=True)
    return Path(shutil.copytree(source, target))


def posts(hub: FakeHub) -> list[str]:
    return [r.path.split("?")[0] for r in hub.requests if r.method == "POST"]


@pytest.mark.parametrize("xet", [True, False], ids=["pipelined-upload", "single-create-commit"])
def test_publish_embedded_models_round_trip(
    fake_hub: FakeHub, make_model_dir, no_embedded_models: Path, monkeypatch, xet: bool
):
    """Published weights download back identical, by repo id (the alias loads the embedded copy)."""
    from huggingface_hub import constants

    # with hf_xet installed, upload_folder streams through its pipeline; without, create_commit
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    glasses = embed(no_embedded_models, make_model_dir, "eyeglasses", seed=1)
    smiling = embed(no_embedded_models, make_model_dir, "smiling", seed=2)

    urls = hub.publish_embedded_models(token=TOKEN, private=True)

    assert list(urls) == ["eyeglasses", "smiling"]
    published: dict[str, SaGAN] = {}
    for alias, folder in (("eyeglasses", glasses), ("smiling", smiling)):
        repo_id = PRETRAINED[alias]
        commit = urls[alias].rsplit("/", 1)[-1]
        assert urls[alias] == f"{fake_hub.url}/{repo_id}/commit/{commit}"
        assert fake_hub.commit(repo_id) == commit and fake_hub.is_private(repo_id)
        published[alias] = SaGAN.from_pretrained(repo_id, device="cpu")
        assert same_weights(published[alias], SaGAN.from_pretrained(folder, device="cpu"))
        snapshot = resolve_weights_folder(repo_id)
        assert snapshot.name == commit
        assert (snapshot / WEIGHTS_NAME).read_bytes() == (folder / WEIGHTS_NAME).read_bytes()
        assert (snapshot / "config.json").read_bytes() == (folder / "config.json").read_bytes()
    assert f"/api/models/{PRETRAINED['smiling']}/preupload/main" in posts(fake_hub)
    assert f"/api/models/{PRETRAINED['smiling']}/commit/main" in posts(fake_hub)
    assert fake_hub.count("GET", WEIGHTS_NAME, server="cdn") == 2  # served as LFS, as on the Hub

    # Publishing the same files again makes no commit: the Hub reports them unchanged.
    fake_hub.clear()
    assert hub.publish_embedded_models(["Eyeglasses"], token=TOKEN) == {
        "eyeglasses": urls["eyeglasses"]
    }
    assert not any(p.endswith("/commit/main") for p in posts(fake_hub))

    # New weights to a new branch: main keeps the first model, the branch (and its sha) the new.
    new = embed(no_embedded_models, make_model_dir, "eyeglasses", seed=3)
    url = hub.publish_embedded_models("eyeglasses", token=TOKEN, revision="v2")["eyeglasses"]
    repo_id = PRETRAINED["eyeglasses"]
    branch = SaGAN.from_pretrained(repo_id, revision="v2", device="cpu")
    assert same_weights(branch, SaGAN.from_pretrained(new, device="cpu"))
    pinned = SaGAN.from_pretrained(repo_id, revision=url.rsplit("/", 1)[-1], device="cpu")
    assert same_weights(pinned, branch)
    assert same_weights(SaGAN.from_pretrained(repo_id, device="cpu"), published["eyeglasses"])
    assert not same_weights(published["eyeglasses"], branch)


def test_publish_refuses_a_model_that_is_not_embedded_before_any_request(
    fake_hub: FakeHub, make_model_dir, no_embedded_models: Path
):
    with pytest.raises(WeightsNotFoundError) as error:
        hub.publish_embedded_models(token=TOKEN)  # nothing embedded at all
    assert "no model is embedded" in one_line(error)

    embed(no_embedded_models, make_model_dir, "eyeglasses", seed=1)
    with pytest.raises(WeightsNotFoundError) as error:
        hub.publish_embedded_models(["eyeglasses", "no-beard"], token=TOKEN)
    message = one_line(error)
    assert "'no_beard'" in message and PRETRAINED["no_beard"] in message
    assert "embedded: eyeglasses" in message and isinstance(error.value, SaGANError)

    with pytest.raises(ValueError) as error:
        hub.publish_embedded_models(["eyeglasses", "sunglasses"], token=TOKEN)
    assert "'sunglasses'" in one_line(error) and "eyeglasses" in str(error.value)
    assert fake_hub.requests == []  # eyeglasses, first in the list, was not sent either


@pytest.mark.parametrize("repo_exists", [False, True], ids=["new-repo", "existing-repo"])
def test_publish_without_a_token_fails_with_a_clear_error(
    fake_hub: FakeHub, make_model_dir, no_embedded_models: Path, repo_exists: bool
):
    from huggingface_hub import get_token

    assert get_token() is None  # the fixtures keep any real login out
    repo_id = PRETRAINED["eyeglasses"]
    before = make_model_dir("on-the-hub", seed=5)
    if repo_exists:
        fake_hub.add(repo_id, before)
    embed(no_embedded_models, make_model_dir, "eyeglasses", seed=1)

    with pytest.raises(SaGANError) as error:
        hub.publish_embedded_models()
    message = one_line(error)
    assert f"'eyeglasses' to {repo_id}" in message and "401" in message
    assert "HF_TOKEN" in message and "hf auth login" in message
    # Every write was refused; nothing changed on the Hub.
    assert not any(p.endswith("/commit/main") for p in posts(fake_hub))
    if repo_exists:
        assert f"/api/models/{repo_id}/preupload/main" in posts(fake_hub)  # refused there
        assert same_weights(
            SaGAN.from_pretrained(repo_id, device="cpu"), SaGAN.from_pretrained(before)
        )
    else:
        with pytest.raises(WeightsNotFoundError, match="does not exist"):
            SaGAN.from_pretrained(repo_id)


def test_publish_script_dry_run_lists_what_would_go_where(fake_hub: FakeHub, hf_home: Path):
    """The script, in a fresh process, on the package's real embedded models: sends nothing."""
    root = Path(__file__).resolve().parents[1]
    real = Path(hub.__file__).parent / "weights"
    expected = [a for a in PRETRAINED if (real / a / "config.json").is_file()]
    expected = [a for a in expected if (real / a / WEIGHTS_NAME).is_file()]
    assert expected, "the package embeds no model"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(hf_env(fake_hub.url, hf_home))
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "publish_embedded_models.py"), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(expected)
    for alias, line in zip(expected, lines, strict=True):
        assert line.startswith(f"{alias}: would upload {real / alias} (")
        assert f"to {fake_hub.url}/{PRETRAINED[alias]} (branch main)" in line
        assert WEIGHTS_NAME in line and "config.json" in line
    assert "no token found" in done.stderr and "Traceback" not in done.stderr
    assert fake_hub.requests == []


def test_fake_hub_write_endpoints_require_a_token(fake_hub: FakeHub, make_model_dir):
    import urllib.error
    import urllib.request

    commit = fake_hub.add(REPO, make_model_dir("a"))
    api = f"/api/models/{REPO}"
    writes = [
        "/api/repos/create",
        *(f"{api}/{action}/main" for action in ("branch", "preupload", "commit")),
    ]
    for path in writes:
        for auth in ({}, {"Authorization": "Bearer "}):
            request = urllib.request.Request(
                fake_hub.url + path, data=b"{}", headers=auth, method="POST"
            )
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(request, timeout=10)
            assert error.value.code == 401, path
    assert fake_hub.commit(REPO) == commit

"""Finding weights: aliases, local folders and the Hugging Face Hub (cache, revisions, offline).

A name given to `SaGAN.from_pretrained` is resolved in this order:

1. an alias from `PRETRAINED` (``"eyeglasses"``): the model embedded in the package
   (``sagan_edit/weights/<alias>/``), loaded with no network and no cache; an alias whose model
   is not embedded, or asked for at a ``revision``, stands for its Hub repo id;
2. an existing local folder holding ``config.json`` and ``model.safetensors``;
3. a Hub repo id (``"user/repo"``), downloaded through ``huggingface_hub`` into its cache.

Downloads honour the usual ``huggingface_hub`` settings: ``HF_HOME``/``HF_HUB_CACHE`` (where),
``HF_ENDPOINT`` (which server), ``HF_TOKEN`` (private repos) and ``HF_HUB_OFFLINE=1`` (never touch
the network, use the cache only). Cached files are used when the Hub cannot be reached; when a
file is not cached and the Hub cannot be reached, loading fails at once with a one-line
`WeightsNotFoundError` rather than retrying for half a minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import (
    HfApi,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    try_to_load_from_cache,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torch import nn

from .config import CONFIG_NAME, JsonConfig
from .errors import InvalidWeightsError, SaGANError, WeightsNotFoundError, first_line
from .fileio import atomic_write_bytes

WEIGHTS_NAME = "model.safetensors"
MODEL_CARD_NAME = "README.md"
LIBRARY_NAME = "sagan-edit"

#: Short names of the published models, each the Hub repo id it stands for.
PRETRAINED: dict[str, str] = {
    "eyeglasses": "sagan-edit/sagan-eyeglasses",
    "mouth_slightly_open": "sagan-edit/sagan-mouth-slightly-open",
    "smiling": "sagan-edit/sagan-smiling",
    "no_beard": "sagan-edit/sagan-no-beard",
}


EMBEDDED_WEIGHTS = Path(__file__).parent / "weights"
"""Where the models shipped inside the package live, one folder per alias."""


def alias_key(name: str) -> str | None:
    """Return the `PRETRAINED` key a name spells (case, ``-``, ``_`` and spaces ignored)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return key if key in PRETRAINED else None


def resolve_alias(name: str) -> str | None:
    """Return the Hub repo id an alias stands for (case and ``-``/``_`` ignored), else None."""
    key = alias_key(name)
    return PRETRAINED[key] if key else None


def embedded_model_folder(name: str) -> Path | None:
    """Return the folder of the model embedded in the package for alias ``name``, else None."""
    key = alias_key(name)
    folder = EMBEDDED_WEIGHTS / key if key else None
    if folder is None or not (folder / CONFIG_NAME).is_file():
        return None
    return folder if (folder / WEIGHTS_NAME).is_file() else None


@dataclass(frozen=True)
class ModelInfo:
    """One published model: what `list_models` returns."""

    alias: str
    """The short name `SaGAN.from_pretrained` takes (``"eyeglasses"``)."""
    repo_id: str
    """The Hub repo the alias stands for when its model is not embedded."""
    embedded: Path | None
    """The folder of the model shipped inside the package (loads offline), or None."""

    @property
    def source(self) -> str:
        """``"embedded"`` (in the package, no network) or ``"hub"`` (downloaded and cached)."""
        return "embedded" if self.embedded is not None else "hub"


def list_models() -> list[ModelInfo]:
    """List the aliases, each with its Hub repo and, where it ships, its embedded folder."""
    return [ModelInfo(a, repo, embedded_model_folder(a)) for a, repo in PRETRAINED.items()]


def _download_hint(name: str, offline_env: bool = False) -> str:
    fetch = "download them once while online (`SaGAN.from_pretrained` caches them)"
    if offline_env:
        fetch = "unset HF_HUB_OFFLINE and download them once"
    return f"{fetch}, or load a local model folder instead"


def resolve_weights_folder(
    name_or_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """Return a local folder holding ``config.json`` and ``model.safetensors`` for a name.

    ``name_or_path`` is an alias, a local folder or a Hub repo id (see the module docstring).
    Raises `WeightsNotFoundError` with a one-line message saying what to do.
    """
    name = os.fspath(name_or_path)
    embedded = embedded_model_folder(name)
    if embedded is not None and revision is None:
        return embedded
    repo_id = resolve_alias(name)
    if repo_id is None:
        path = Path(name).expanduser()
        if path.is_dir():
            return path
        if path.exists():
            raise WeightsNotFoundError(
                f"{name} is a file; pass the folder that holds {WEIGHTS_NAME}"
            )
        if name.count("/") != 1 or name.startswith((".", "/", "~")):
            aliases = ", ".join(PRETRAINED)
            raise WeightsNotFoundError(
                f"no weights at {name!r}: not a local folder, a Hub repo id (user/name) "
                f"or a known alias ({aliases})"
            )
        repo_id = name
    folder: Path | None = None
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        downloaded = _download(
            repo_id, filename, name, revision, cache_dir, local_files_only, token
        )
        folder = Path(downloaded).parent
    assert folder is not None
    return folder


def _download(
    repo_id: str,
    filename: str,
    name: str,
    revision: str | None,
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool,
    token: str | bool | None,
) -> str:
    """Fetch one file through huggingface_hub, turning its errors into one-line messages."""
    where = repo_id if name == repo_id else f"{name!r} ({repo_id})"
    at_revision = f" at revision {revision!r}" if revision else ""
    offline = local_files_only or _hub_offline()
    try:
        if not offline and not _in_cache(repo_id, filename, revision, cache_dir):
            _check_hub_reachable(repo_id, filename, revision, token)
        return hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            library_name=LIBRARY_NAME,
        )
    except _HubUnreachable as exc:
        raise WeightsNotFoundError(
            f"cannot download weights for {where}{at_revision}: the Hub at {_endpoint()} could not "
            f"be reached ({exc}) and {filename} is not in the cache: check your connection, "
            f"or load a local model folder instead"
        ) from None
    except GatedRepoError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id} is gated: accept its terms on the Hub and log in "
            "(`hf auth login` or HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id} does not exist (or is private: log in with `hf auth login` "
            "or set HF_TOKEN); check the name, or load a local model folder instead"
        ) from None
    except RevisionNotFoundError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id} has no revision {revision!r}: pass an existing branch, tag or "
            "commit, or leave out the revision for the latest (main)"
        ) from None
    except LocalEntryNotFoundError:
        offline_env = not local_files_only and _hub_offline()
        if local_files_only:
            reason = "local_files_only=True"
        elif offline_env:
            reason = "HF_HUB_OFFLINE=1 is set"
        else:
            reason = f"the Hub at {_endpoint()} could not be reached"
        raise WeightsNotFoundError(
            f"weights for {where}{at_revision} are not available offline ({reason} and "
            f"{filename} is not in the cache): {_download_hint(name, offline_env)}"
        ) from None
    except EntryNotFoundError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id}{at_revision} has no {filename}: "
            "it does not hold sagan-edit weights"
        ) from None
    except HFValidationError as exc:
        raise WeightsNotFoundError(
            f"no weights at {name!r}: not a local folder, nor a valid Hub repo id "
            f"({first_line(exc)})"
        ) from None
    except HfHubHTTPError as exc:
        raise WeightsNotFoundError(
            f"could not download {filename} from {repo_id}: {first_line(exc)}"
        ) from None
    except OSError as exc:
        # e.g. a full disk or an unwritable cache folder, or a download cut short
        raise WeightsNotFoundError(
            f"could not download {filename} from {repo_id}: {first_line(exc)}"
        ) from None


class _HubUnreachable(Exception):
    """The Hub did not answer at all (no connection, DNS failure, timeout)."""


def _in_cache(
    repo_id: str, filename: str, revision: str | None, cache_dir: str | os.PathLike[str] | None
) -> bool:
    cached = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
    return isinstance(cached, str)


def _check_hub_reachable(
    repo_id: str, filename: str, revision: str | None, token: str | bool | None
) -> None:
    """Make one HEAD request, without retries; raise `_HubUnreachable` if nothing answers.

    Why: when a file is not cached and the Hub cannot be reached, ``hf_hub_download`` retries
    with back-off for about 23 s (printing a warning each time) before giving up. One quick probe
    lets a user without network get the one-line answer at once. Answers with an HTTP error
    status (missing repo, file or revision) are left to ``hf_hub_download``, which words them.
    """
    from huggingface_hub import constants

    url = hf_hub_url(repo_id, filename, revision=revision)
    try:
        get_hf_file_metadata(
            url, token=token, timeout=constants.HF_HUB_ETAG_TIMEOUT, library_name=LIBRARY_NAME
        )
    except (HfHubHTTPError, HFValidationError):
        return
    except Exception as exc:  # noqa: BLE001
        # The transport's exception types differ between huggingface_hub releases (requests,
        # httpx, httpx2), so anything but an HTTP answer counts as "no answer"; its text is shown.
        raise _HubUnreachable(f"{type(exc).__name__}: {first_line(exc)}") from None


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def push_folder_to_hub(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    token: str | bool | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload SaGAN model",
) -> str:
    """Upload ``folder`` to ``repo_id`` (repo and branch made if needed); return the commit URL."""
    api = HfApi(token=token, library_name=LIBRARY_NAME)
    api.create_repo(repo_id, private=private, exist_ok=True)
    if revision is not None:
        # upload_folder fails on a branch that does not exist yet
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=os.fspath(folder),
        revision=revision,
        commit_message=commit_message,
    )
    return str(commit.commit_url)


def publish_embedded_models(
    aliases: str | Iterable[str] | None = None,
    *,
    token: str | bool | None = None,
    private: bool | None = None,
    revision: str | None = None,
) -> dict[str, str]:
    """Upload the models embedded in the package to their Hub repos in `PRETRAINED`.

    Each alias's folder (``sagan_edit/weights/<alias>/``: ``config.json``, ``model.safetensors``,
    ``README.md``) goes to its repo with `push_folder_to_hub`, which makes the repo, and the
    branch, when needed. Every name is checked before anything is sent.

    Args:
        aliases: The aliases to publish (case, ``-``, ``_`` and spaces ignored); None publishes
            every model embedded in the package.
        token: A Hub token with write access; None uses ``HF_TOKEN`` or the saved login
            (``hf auth login``).
        private: Make repos that do not exist yet private (None: the Hub's default, public).
            Repos that exist keep their visibility.
        revision: The branch to commit to, made from ``main`` if needed; None commits to ``main``.

    Returns:
        ``{alias: commit URL}``, in the order published. A model already on the Hub unchanged
        makes no new commit; its URL is then that of the commit holding it.

    Raises:
        ValueError: A name that is not an alias in `PRETRAINED`, or an empty list.
        WeightsNotFoundError: An alias whose model is not embedded, or, with ``aliases=None``,
            no model embedded at all.
        SaGANError: The Hub refused or failed an upload (no token, no write access, no
            connection); the message names the repo and the models published before it.
    """
    published: dict[str, str] = {}
    at = f" (branch {revision!r})" if revision else ""
    for alias, folder in _embedded_folders(aliases).items():
        repo_id = PRETRAINED[alias]
        before = f"; published before it: {', '.join(published)}" if published else ""
        try:
            published[alias] = push_folder_to_hub(
                folder,
                repo_id,
                token=token,
                private=private,
                revision=revision,
                commit_message=f"Upload the {alias} model embedded in sagan-edit",
            )
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 401:
                reason = (
                    "the Hub refused the upload (401: no token, or an invalid one): set HF_TOKEN "
                    "or log in with `hf auth login`, with a token that has write access"
                )
            elif status == 403:
                reason = f"the token has no write access to {repo_id.split('/')[0]} (403)"
            else:
                reason = first_line(exc)
            raise SaGANError(
                f"could not publish {alias!r} to {repo_id}{at}: {reason}{before}"
            ) from None
        except (OSError, ValueError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise SaGANError(
                f"could not publish {alias!r} to {repo_id}{at}: {reason}{before}"
            ) from None
        except Exception as exc:  # noqa: BLE001
            # no answer at all: the transport's exception types differ between huggingface_hub
            # releases (see `_check_hub_reachable`), so its name is shown; the cause is kept
            raise SaGANError(
                f"could not publish {alias!r} to {repo_id}{at}: the Hub at {_endpoint()} did not "
                f"answer ({type(exc).__name__}: {first_line(exc)}){before}"
            ) from exc
    return published


def _embedded_folders(aliases: str | Iterable[str] | None) -> dict[str, Path]:
    """Return ``{alias: embedded folder}`` for the names asked for (None: every embedded model).

    Raises `ValueError` for an unknown name and `WeightsNotFoundError` for a model not embedded.
    """
    embedded = {m.alias: m.embedded for m in list_models() if m.embedded is not None}
    if aliases is None:
        if not embedded:
            raise WeightsNotFoundError(
                f"no model is embedded in the package ({EMBEDDED_WEIGHTS} holds none): "
                "nothing to publish"
            )
        return embedded
    names = [aliases] if isinstance(aliases, str) else list(aliases)
    if not names:
        raise ValueError("no model named: give one or more aliases, or None for every embedded one")
    folders: dict[str, Path] = {}
    for name in names:
        key = alias_key(name)
        if key is None:
            raise ValueError(f"unknown model {name!r}: the aliases are {', '.join(PRETRAINED)}")
        if key not in embedded:
            raise WeightsNotFoundError(
                f"no model is embedded for {key!r} ({EMBEDDED_WEIGHTS / key} lacks {CONFIG_NAME} "
                f"or {WEIGHTS_NAME}), so there is nothing to publish to {PRETRAINED[key]}; "
                f"embedded: {', '.join(embedded) or 'none'}"
            )
        folders[key] = embedded[key]
    return folders


def load_weights_strictly(
    module: nn.Module, path: str | os.PathLike[str], *, ignore_prefix: str | None = None
) -> None:
    """Load a safetensors file into ``module``: every tensor present, named and shaped as expected.

    Tensors whose names start with ``ignore_prefix`` are skipped. Any missing, unexpected or
    mis-shaped tensor raises `InvalidWeightsError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidWeightsError(f"{path} is missing: the folder holds no weights")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InvalidWeightsError(
            f"{path} is not a valid safetensors file (truncated or corrupt?): {exc}"
        ) from None
    if ignore_prefix:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(ignore_prefix)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        raise InvalidWeightsError(
            f"{path} lacks {len(missing)} tensor(s) the model needs, e.g. {missing[0]!r} "
            f"(does it match config.json?)"
        )
    if unexpected:
        raise InvalidWeightsError(
            f"{path} has {len(unexpected)} tensor(s) the model does not use, e.g. {unexpected[0]!r}"
        )
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InvalidWeightsError(
                f"{path}: tensor {key!r} holds NaN or infinite values: the weights are corrupt "
                "(a training run that diverged?)"
            )
        if tensor.shape != expected[key].shape:
            raise InvalidWeightsError(
                f"{path}: tensor {key!r} has shape {tuple(tensor.shape)}, the model expects "
                f"{tuple(expected[key].shape)} (does it match config.json?)"
            )
    module.load_state_dict(tensors, strict=True)


def write_model_folder(
    folder: str | os.PathLike[str], config: JsonConfig, module: nn.Module, card: str | None
) -> Path:
    """Write ``config.json``, ``model.safetensors`` (``module``'s tensors) and ``README.md``.

    Every file is written atomically; the folder is created if needed; ``card=None`` writes no
    card. Returns the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.save(folder)
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    metadata = {"format": "pt", "library": LIBRARY_NAME}
    atomic_write_bytes(folder / WEIGHTS_NAME, save_safetensors(tensors, metadata=metadata))
    if card is not None:
        atomic_write_bytes(folder / MODEL_CARD_NAME, card.encode())
    return folder

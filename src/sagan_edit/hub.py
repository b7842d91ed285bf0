"""Finding weights: short aliases, local folders and the Hugging Face Hub (cache, revisions, offline).

A name given to `SaGAN.from_pretrained` is resolved in this order:

1. an alias from `PRETRAINED` (``"eyeglasses"``), which stands for its Hub repo id;
2. an existing local folder holding ``config.json`` and ``model.safetensors``;
3. a Hub repo id (``"user/repo"``), downloaded through ``huggingface_hub`` into its cache.

Downloads honour the usual ``huggingface_hub`` settings: ``HF_HOME``/``HF_HUB_CACHE`` (where),
``HF_ENDPOINT`` (which server), ``HF_TOKEN`` (private repos) and ``HF_HUB_OFFLINE=1`` (never touch
the network, use the cache only).
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HFValidationError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .config import CONFIG_NAME
from .errors import WeightsNotFoundError

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


def resolve_alias(name: str) -> str | None:
    """Return the Hub repo id an alias stands for (case and ``-``/``_`` ignored), else None."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return PRETRAINED.get(key)


def _download_hint(name: str) -> str:
    return (
        f"download them while online with `sagan-edit download {name}`, "
        "or pass a local folder with --weights PATH"
    )


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
    repo_id = resolve_alias(name)
    if repo_id is None:
        path = Path(name).expanduser()
        if path.is_dir():
            return path
        if path.exists():
            raise WeightsNotFoundError(f"{name} is a file; pass the folder that holds {WEIGHTS_NAME}")
        if name.count("/") != 1 or name.startswith((".", "/", "~")):
            aliases = ", ".join(PRETRAINED)
            raise WeightsNotFoundError(
                f"no weights at {name!r}: not a local folder, a Hub repo id (user/name) "
                f"or a known alias ({aliases})"
            )
        repo_id = name
    folder: Path | None = None
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        downloaded = _download(repo_id, filename, name, revision, cache_dir, local_files_only, token)
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
    try:
        return hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            library_name=LIBRARY_NAME,
        )
    except GatedRepoError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id} is gated: accept its terms on the Hub and log in "
            "(`hf auth login` or HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id} does not exist (or is private: log in with `hf auth login` "
            "or set HF_TOKEN); check the name, or pass a local folder with --weights PATH"
        ) from None
    except RevisionNotFoundError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id} has no revision {revision!r}"
        ) from None
    except LocalEntryNotFoundError:
        offline = local_files_only or _hub_offline()
        reason = "offline mode is on" if offline else "the Hub could not be reached"
        raise WeightsNotFoundError(
            f"weights for {where}{at_revision} are not available offline ({reason} and "
            f"{filename} is not in the cache): {_download_hint(name)}"
        ) from None
    except EntryNotFoundError:
        raise WeightsNotFoundError(
            f"Hub repo {repo_id}{at_revision} has no {filename}: it does not hold sagan-edit weights"
        ) from None
    except HFValidationError as exc:
        raise WeightsNotFoundError(f"{name!r} is not a valid Hub repo id: {exc}") from None
    except HfHubHTTPError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsNotFoundError(f"could not download {filename} from {repo_id}: {first_line}") from None


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
    """Create ``repo_id`` if needed, upload ``folder`` to it, and return the commit URL."""
    api = HfApi(token=token, library_name=LIBRARY_NAME)
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=os.fspath(folder),
        revision=revision,
        commit_message=commit_message,
    )
    return str(commit.commit_url)

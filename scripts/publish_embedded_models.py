"""Publish the models embedded in the package to their Hub repos (a maintainers' tool).

Each embedded model (``src/sagan_edit/weights/<alias>/``) goes to the repo its alias stands for in
``sagan_edit.PRETRAINED``, through ``sagan_edit.hub.publish_embedded_models``::

    python scripts/publish_embedded_models.py --dry-run        # what would go where; sends nothing
    python scripts/publish_embedded_models.py                  # every embedded model, to main
    python scripts/publish_embedded_models.py eyeglasses --revision v1 --private

The token comes from HF_TOKEN or the saved login (``hf auth login``) and needs write access to the
repos' namespace; HF_ENDPOINT picks another Hub. Prints one line per model; on an error, prints one
line and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys

from huggingface_hub import constants, get_token

from sagan_edit.errors import SaGANError
from sagan_edit.hub import PRETRAINED, _embedded_folders, publish_embedded_models


def dry_run(aliases: list[str] | None, private: bool, revision: str | None) -> list[str]:
    """Return one line per model that would be published: its folder, files and destination."""
    lines = []
    for alias, folder in _embedded_folders(aliases).items():
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in files) / 1e6
        names = ", ".join(p.relative_to(folder).as_posix() for p in files)
        where = f"{constants.ENDPOINT}/{PRETRAINED[alias]} (branch {revision or 'main'}"
        where += ", private if new)" if private else ")"
        lines.append(f"{alias}: would upload {folder} ({names}; {size:.2f} MB) to {where}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the script; return the exit status (0, or 1 after a one-line error)."""
    parser = argparse.ArgumentParser(
        description="Upload the models embedded in sagan-edit to their Hub repos (PRETRAINED)."
    )
    parser.add_argument(
        "aliases",
        nargs="*",
        metavar="ALIAS",
        help="models to publish (default: every embedded one)",
    )
    parser.add_argument(
        "--private", action="store_true", help="make repos that do not exist yet private"
    )
    parser.add_argument(
        "--revision",
        metavar="R",
        help="branch to commit to, made from main if needed (default main)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be uploaded where; upload nothing"
    )
    args = parser.parse_args(argv)
    aliases = args.aliases or None
    try:
        if args.dry_run:
            print("\n".join(dry_run(aliases, args.private, args.revision)))
            if get_token() is None:
                print("note: no token found; set HF_TOKEN or run `hf auth login`", file=sys.stderr)
            return 0
        if get_token() is None:
            raise SaGANError(
                "no Hugging Face token: set HF_TOKEN or log in with `hf auth login` "
                "(the token needs write access)"
            )
        urls = publish_embedded_models(
            aliases, private=True if args.private else None, revision=args.revision
        )
    except (SaGANError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for alias, url in urls.items():
        print(f"{alias}: published to {PRETRAINED[alias]}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

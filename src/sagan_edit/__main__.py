"""``python -m sagan_edit`` runs the ``sagan-edit`` command line."""

from .cli import main

if __name__ == "__main__":
    main()

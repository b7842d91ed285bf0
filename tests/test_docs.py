"""The Python API page documents the real signatures: names, order and defaults."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from sagan_edit import SaGAN

API_PAGE = Path(__file__).parents[1] / "docs" / "python-api.md"


def documented_signature(call: str) -> list[tuple[str, str | None]]:
    """``[(name, default source or None), ...]`` of the page's ``call(...)`` line (may wrap)."""
    text = API_PAGE.read_text(encoding="utf-8")
    match = re.search(rf"`{re.escape(call)}\((.*?)\)`", text, re.S)
    assert match, f"{call}(...) is not on {API_PAGE.name}"
    tree = ast.parse(f"def f({match.group(1)}): pass")
    args = tree.body[0].args  # type: ignore[attr-defined]
    positional = [(a.arg, None) for a in args.args]
    for i, default in enumerate(args.defaults, len(args.args) - len(args.defaults)):
        positional[i] = (positional[i][0], ast.unparse(default))
    keyword = [
        (a.arg, None if d is None else ast.unparse(d))
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    return positional + keyword


def real_signature(function: object) -> list[tuple[str, str | None]]:
    """The same for the code, ``self``/``cls`` left out."""
    parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    empty = inspect.Parameter.empty
    return [
        (p.name, None if p.default is empty else repr(p.default).replace("'", '"'))
        for p in parameters
        if p.name not in ("self", "cls")
    ]


@pytest.mark.parametrize(
    ("call", "function"),
    [("model.edit", SaGAN.edit), ("from_pretrained", SaGAN.from_pretrained)],
)
def test_the_api_page_shows_the_real_signature(call: str, function: object) -> None:
    documented = [(n, d.replace("'", '"') if d else d) for n, d in documented_signature(call)]
    assert documented == real_signature(function)

"""The documentation matches the code, and renders cleanly.

- the Python API page shows the real signatures of ``edit`` and ``from_pretrained``, every
  parameter of ``edit`` and every field of ``EditResult``;
- the command-line page documents every command and option of ``sagan-edit``;
- code lines fit the docs site's code column; docstrings use ``Examples:`` sections;
- the docs build formats signatures (ruff in the ``docs`` extra), and every page is in the nav;
- the first example of each page runs on a fresh install (only embedded models);
- the evaluation snippet does not run the whole test set.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from sagan_edit import EditResult, SaGAN

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
API_PAGE = DOCS / "python-api.md"
CLI_PAGE = DOCS / "cli.md"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]

#: The widest code line the docs site shows without scrolling. Measured in headless Chromium on
#: the built site (Material theme, both sidebars shown, any window from 1220 px wide up): a
#: code block's text column holds 80 characters of its monospace font.
CODE_COLUMNS = 80

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")


def code_blocks(page: Path) -> list[tuple[str, int, list[str]]]:
    """``[(language, first line number, lines), ...]`` of a Markdown page's fenced blocks."""
    blocks: list[tuple[str, int, list[str]]] = []
    fence: str | None = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, language, start, lines = match.group(2), match.group(3), number + 1, []
        elif fence is not None and line.strip().startswith(fence):
            blocks.append((language, start, lines))
            fence = None
        elif fence is not None:
            lines.append(line)
    return blocks


# --------------------------------------------------------------------------- the API page


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


def section(text: str, start: str, end: str) -> str:
    """The part of ``text`` from the first ``start`` to the next ``end`` after it."""
    begin = text.index(start)
    return text[begin : text.index(end, begin + len(start))]


def test_the_api_page_explains_every_edit_parameter() -> None:
    text = API_PAGE.read_text(encoding="utf-8")
    # the definition list under the signature: one "`name`" line per parameter, in order
    listing = section(text, "`model.edit(", "The result is")
    explained = re.findall(r"^`(\w+)`$", listing, re.M)
    assert explained == [name for name, _ in real_signature(SaGAN.edit)]


def test_the_api_page_lists_every_edit_result_field() -> None:
    text = API_PAGE.read_text(encoding="utf-8")
    table = section(text, "| field | type | content |", "\n\n")
    documented = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert documented == [f.name for f in dataclasses.fields(EditResult)]


def test_the_api_page_lists_the_from_pretrained_arguments() -> None:
    text = API_PAGE.read_text(encoding="utf-8")
    table = section(text, "| argument | meaning |", "\n\n")
    documented = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert documented == [name for name, _ in real_signature(SaGAN.from_pretrained)]


# --------------------------------------------------------------------------- the CLI page


def cli_commands() -> dict:
    """``{name: click command}`` of the ``sagan-edit`` app (loads no torch)."""
    import typer

    from sagan_edit.cli import app

    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def in_code_span(text: str, option: str) -> bool:
    """Whether ``option`` (``--attr``, ``-a``) stands as a word inside some `code span`."""
    word = rf"(?<![\w-]){re.escape(option)}(?![\w-])"
    return re.search(rf"`[^`\n]*{word}[^`\n]*`", text) is not None


def test_the_cli_page_has_a_section_for_every_command() -> None:
    text = CLI_PAGE.read_text(encoding="utf-8")
    for name in cli_commands():
        assert f"## `sagan-edit {name}`" in text, f"no section for sagan-edit {name}"


def test_the_cli_page_shows_the_current_command_list() -> None:
    text = CLI_PAGE.read_text(encoding="utf-8")
    listed = section(text, "Commands:\n", "```")
    assert re.findall(r"^  (\w+) ", listed, re.M) == list(cli_commands())


@pytest.mark.parametrize("command", sorted(cli_commands()))
def test_the_cli_page_documents_every_option(command: str) -> None:
    text = CLI_PAGE.read_text(encoding="utf-8")
    body = section(text + "\n## end", f"## `sagan-edit {command}`", "\n## ")
    options = [
        option
        for param in cli_commands()[command].params
        for option in (*param.opts, *param.secondary_opts)
        if option.startswith("-") and option not in ("-h", "--help")
    ]
    missing = [option for option in options if not in_code_span(body, option)]
    assert not missing, f"sagan-edit {command}: {missing} not on {CLI_PAGE.name}"


# --------------------------------------------------------------------------- rendering


def test_code_lines_fit_the_code_column() -> None:
    long = [
        f"{page.relative_to(ROOT)}:{start + i}: {len(line)} characters"
        for page in PAGES
        for _, start, lines in code_blocks(page)
        for i, line in enumerate(lines)
        if len(line) > CODE_COLUMNS
    ]
    assert not long, f"code lines over {CODE_COLUMNS} characters:\n" + "\n".join(long)


def docstrings() -> list[tuple[str, str]]:
    """``[(where, docstring), ...]`` of every module, class and function of the package."""
    found = []
    for path in sorted((ROOT / "src" / "sagan_edit").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    line = getattr(node, "lineno", 1)
                    found.append((f"{path.relative_to(ROOT)}:{line}", doc))
    return found


def test_docstring_examples_are_examples_sections() -> None:
    """``>>>`` only under ``Examples:`` (else it renders as nested quotes), no doctest flags."""
    bad = []
    for where, doc in docstrings():
        in_examples = False
        for line in doc.splitlines():
            if line and not line[0].isspace():
                in_examples = line.rstrip() == "Examples:"
            if "doctest:" in line or (line.lstrip().startswith(">>>") and not in_examples):
                bad.append(f"{where}: {line.strip()}")
    assert not bad, "use a Google-style Examples: section:\n" + "\n".join(bad)


SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Other Parameters|Keyword Args|Returns|Yields|Receives|Raises"
    r"|Warns|Attributes|Examples?|Notes?|Warnings?|See Also|Todo|Methods|Functions|Classes"
    r"|Modules):\s*$"
)


def docstring_code(doc: str) -> list[str]:
    """The lines of ``doc`` that render as code, as they show (indentation of the block off)."""
    code, fence, section, in_block, after_blank = [], False, False, False, True
    for line in doc.splitlines():
        stripped = line.strip()
        if line and not line[0].isspace():
            section, in_block = SECTION.match(line) is not None, False
        text = line[4:] if section else line
        if stripped.startswith(("```", "~~~")):
            fence = not fence
        elif fence or stripped.startswith((">>>", "...")):
            code.append(text.strip() if stripped.startswith((">>>", "...")) else text)
        elif not section and line.startswith("    ") and (after_blank or in_block):
            in_block = True  # a Markdown code block: indented 4 after a blank line
            code.append(line[4:])
        elif stripped:
            in_block = False
        after_blank = not stripped
    return code


def test_docstring_code_lines_fit_the_code_column() -> None:
    """Reference pages show docstrings; members sit indented, so they get a little less room."""
    long = []
    for path in sorted((ROOT / "src" / "sagan_edit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                continue
            doc = ast.get_docstring(node)
            room = CODE_COLUMNS if isinstance(node, ast.Module) else CODE_COLUMNS - 4
            for line in docstring_code(doc or ""):
                if len(line) > room:
                    where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}"
                    long.append(f"{where}: {len(line)} > {room}: {line.strip()[:60]}")
    assert not long, "docstring code lines too wide to show:\n" + "\n".join(long)


def load_toml(path: Path) -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads(path.read_text(encoding="utf-8"))


def mkdocs_config() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_the_docs_build_formats_signatures() -> None:
    """mkdocstrings formats long signatures with ruff or black, which the docs extra installs."""
    docs_extra = load_toml(ROOT / "pyproject.toml")["project"]["optional-dependencies"]["docs"]
    assert any(re.match(r"(ruff|black)\b", requirement) for requirement in docs_extra)
    (plugin,) = [
        p for p in mkdocs_config()["plugins"] if isinstance(p, dict) and "mkdocstrings" in p
    ]
    options = plugin["mkdocstrings"]["handlers"]["python"]["options"]
    assert options["separate_signature"] is True
    assert options["line_length"] <= CODE_COLUMNS


def nav_pages(nav: list) -> list[str]:
    pages = []
    for item in nav:
        value = item if isinstance(item, str) else next(iter(item.values()))
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_page_is_in_the_nav() -> None:
    in_nav = set(nav_pages(mkdocs_config()["nav"]))
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert in_nav == on_disk
    for page in ("install.md", "troubleshooting.md", "how-it-works.md", "gallery.md"):
        assert page in in_nav


def test_every_image_a_page_shows_exists() -> None:
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name}: {target} is missing"


def test_the_install_page_lists_every_extra() -> None:
    extras = load_toml(ROOT / "pyproject.toml")["project"]["optional-dependencies"]
    table = section((DOCS / "install.md").read_text(encoding="utf-8"), "| extra |", "\n\n")
    assert re.findall(r"^\| `(\w+)` \|", table, re.M) == list(extras)


def test_urls_are_given_together_or_not_at_all() -> None:
    """A docs or repository URL in mkdocs.yml goes with ``[project.urls]``, and back."""
    config = mkdocs_config()
    urls = load_toml(ROOT / "pyproject.toml")["project"].get("urls", {})
    site = {config[key] for key in ("site_url", "repo_url") if config.get(key)}
    assert bool(site) == bool(urls)
    assert site <= set(urls.values())


# --------------------------------------------------------------------------- first runs


def aliases_used(lines: list[str]) -> set[str]:
    text = "\n".join(lines)
    return set(re.findall(r'from_pretrained\(\s*"(\w+)"', text)) | set(
        re.findall(r"--attr[ =](\w+)", text)
    )


def test_each_page_starts_with_an_example_that_runs_offline() -> None:
    """A page's first Python or shell example loads only models embedded in the package."""
    from sagan_edit.hub import PRETRAINED, list_models

    missing = {info.alias for info in list_models() if info.embedded is None}
    assert set(PRETRAINED) - missing, "no model is embedded"
    for page in PAGES:
        runnable = [b for b in code_blocks(page) if b[0] in ("python", "bash")]
        if runnable:
            language, start, lines = runnable[0]
            used = aliases_used(lines) & missing
            assert not used, f"{page.name}:{start}: {sorted(used)} load nothing offline"


def test_the_documented_device_error_is_the_real_one() -> None:
    """Install, Troubleshooting and the API page quote it; it is a ValueError, not a crash."""
    import torch

    from sagan_edit.model import select_device

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError) as caught:
        select_device("cuda")
    quoted = f"{type(caught.value).__name__}: {caught.value}"
    for page in ("install.md", "troubleshooting.md", "python-api.md"):
        assert quoted in (DOCS / page).read_text(encoding="utf-8"), page


def test_the_evaluation_snippet_evaluates_a_few_images() -> None:
    from sagan_edit.data import load_dataset

    assert "limit" in inspect.signature(load_dataset).parameters
    (snippet,) = [
        lines
        for language, _, lines in code_blocks(DOCS / "evaluation.md")
        if language == "python" and any("evaluate(" in line for line in lines)
    ]
    assert any(re.search(r"\blimit=\d+", line) for line in snippet)


@pytest.mark.slow
def test_the_how_it_works_figure_is_drawn_from_a_real_edit(tmp_path: Path) -> None:
    """The script runs the embedded model and checks the blend is Eq. 7 (needs ``align``)."""
    import subprocess
    import sys

    pytest.importorskip("dlib")
    out = tmp_path / "figure.png"
    script = ROOT / "scripts" / "how_it_works_figure.py"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True)
    from PIL import Image

    with Image.open(out) as figure:
        assert figure.width > 3 * figure.height  # five panels in a row

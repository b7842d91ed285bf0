"""Start-up of the command line: ``--help``, ``--version`` and usage errors never import torch.

``import sagan_edit`` re-exports its public names lazily (PEP 562), and the command modules import
the library inside their functions, so the commands that only print (help, version, a bad
command line) answer without loading torch. Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import sagan_edit

#: Modules that must not be loaded by ``--help``, ``--version`` or a usage error.
HEAVY = ("torch", "numpy", "safetensors", "huggingface_hub", "sagan_edit.model", "sagan_edit.hub")

#: (arguments, expected exit status): help, version and usage errors found while parsing.
CASES = [
    (["--help"], 0),
    (["--version"], 0),
    (["edit", "--help"], 0),
    (["download", "--help"], 0),
    (["train", "--help"], 0),
    (["eval", "--help"], 0),
    (["edit", "photo.jpg", "--bogus"], 2),  # unknown option
    (["edit"], 2),  # missing argument
    (["train"], 2),  # missing option
    (["photo.jpg", "--strength", "2"], 2),  # out of range
    (["donwload"], 2),  # misspelt command
    (["download"], 2),  # nothing to download
]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this one's environment) and capture its output."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        timeout=300,
    )


def test_help_version_and_usage_errors_do_not_import_torch(tmp_path):
    code = f"""
        import json, os, sys
        os.chdir({str(tmp_path)!r})
        from sagan_edit.cli import main

        report = []
        for args, _ in {CASES!r}:
            try:
                main(args)
                status = 0
            except SystemExit as exc:
                status = exc.code
            loaded = [name for name in {HEAVY!r} if name in sys.modules]
            report.append([args, status, loaded])
        sys.stdout.flush()
        sys.__stdout__.write("\\nREPORT " + json.dumps(report) + "\\n")
    """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.rsplit("REPORT ", 1)[1])
    for (args, expected), (_, status, loaded) in zip(CASES, report, strict=True):
        assert status == expected, (args, status, done.stderr)
        assert loaded == [], f"sagan-edit {' '.join(args)} imported {loaded}"


def test_import_sagan_edit_is_lazy_and_complete():
    code = """
        import sys
        import sagan_edit
        assert "torch" not in sys.modules, "import sagan_edit loaded torch"
        assert sagan_edit.__version__
        from sagan_edit import SaGAN, SaGANConfig
        assert SaGAN.__module__ == "sagan_edit.model" and "torch" in sys.modules
        print("ok")
    """
    done = run_python(code)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_lazy_names_resolve_like_eager_imports():
    from sagan_edit import errors, hub, model

    assert set(sagan_edit.__all__) <= set(dir(sagan_edit))
    for name in sagan_edit.__all__:
        assert getattr(sagan_edit, name) is not None
    assert sagan_edit.SaGAN is model.SaGAN
    assert sagan_edit.PRETRAINED is hub.PRETRAINED
    assert sagan_edit.SaGANError is errors.SaGANError
    with pytest.raises(AttributeError, match="no_such_name"):
        sagan_edit.no_such_name  # noqa: B018
    namespace: dict[str, object] = {}
    exec("from sagan_edit import *", namespace)
    assert set(sagan_edit.__all__) <= set(namespace)


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "sagan_edit", "--help"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: sagan-edit")
    assert "train" in done.stdout and "eval" in done.stdout

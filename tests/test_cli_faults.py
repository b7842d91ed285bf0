"""Faults of the ``sagan-edit`` command line: encoder errors, SIGTERM, broken or finished runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import write_folder_dataset
from typer.testing import CliRunner

from sagan_edit.cli import app


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_image(path: Path, size: tuple[int, int] = (80, 70), *, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def flat(output: str) -> str:
    return " ".join(output.replace("\u2502", " ").split())


TINY_CLI = ["--image-size", "16", "--base-channels", "4", "--residual-blocks", "0",
            "--disc-layers", "2", "--batch-size", "4", "--quiet", "--device", "cpu"]  # fmt: skip


# --------------------------------------------------------------------------- edit


def test_encoder_error_is_one_line_and_the_batch_goes_on(
    tmp_path: Path, tiny_weights: Path
) -> None:
    # WebP holds at most 16383 pixels a side: Pillow raises ValueError, not OSError
    wide = write_image(tmp_path / "a_wide.png", (100_000, 10))
    small = write_image(tmp_path / "b_small.png", seed=1)
    out = tmp_path / "out"
    out.mkdir()
    for source in (wide, small):
        target = out / f"{source.stem}.webp"
        result = invoke(
            "edit", source, "--weights", tiny_weights, "--box", "0,0,10,10", "-o", target, "-q"
        )
        if source is wide:
            assert result.exit_code == 1, result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
            assert "Traceback" not in result.output
            errors = error_lines(result.stderr)
            assert errors and "a_wide.png: cannot write the output" in errors[0]
            assert not target.exists()
        else:
            assert result.exit_code == 0, result.output
            assert target.exists()
    assert sorted(p.name for p in out.iterdir()) == ["b_small.webp"]  # no temporary file


def test_encoder_error_in_a_folder_run(tmp_path: Path, tiny_weights: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_image(inputs / "a.png", seed=1)
    write_image(inputs / "b.png", seed=2)
    out = tmp_path / "out"
    original_save = Image.Image.save

    def failing_save(self, fp, format=None, **params):  # noqa: A002
        if "a_smiling" in str(fp):
            raise ValueError("encoder refused the image")
        return original_save(self, fp, format, **params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image.Image, "save", failing_save)
        result = invoke("edit", inputs, "--weights", tiny_weights, "--out-dir", out, "-q")
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = error_lines(result.stderr)
    assert any("encoder refused the image" in line for line in errors)
    assert "1 of 2 input(s) failed; 1 written" in errors[-1]
    assert sorted(p.name for p in out.iterdir()) == ["b_smiling.png"]


def test_sigterm_leaves_no_temporary_file(tmp_path: Path, tiny_weights: Path) -> None:
    # big inputs, a small box: writing (PNG compression) takes most of the time, so the signal
    # is sent while a temporary file exists, i.e. in the middle of a write
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(30):
        write_image(inputs / f"{i:03d}.png", (1500, 1500), seed=i)
    out = tmp_path / "out"
    script = Path(sys.executable).with_name("sagan-edit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sagan_edit"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["edit", str(inputs), "--weights", str(tiny_weights), "--out-dir", str(out),
            "--box", "0,0,64,64", "-q"]  # fmt: skip
    process = subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir()):
                break
            time.sleep(0.001)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode not in (0, -signal.SIGTERM), stderr
    assert b"Traceback" not in stderr
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    for written in out.iterdir():  # what is there is whole
        with Image.open(written) as image:
            image.load()


def test_sigterm_while_writing_raises_keyboard_interrupt(tmp_path: Path) -> None:
    # deterministic: SIGTERM arrives inside the atomic writer
    code = (
        "import os, signal, sys\n"
        "from sagan_edit import cli, fileio\n"
        "def boom(path: str) -> None:\n"
        "    with fileio.atomic_path(path) as tmp:\n"
        "        tmp.write_bytes(b'012')\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        tmp.write_bytes(b'0123456789')\n"
        "cli.app.command('boom')(boom)\n"
        "cli.main(['boom', sys.argv[-1]])\n"
    )
    target = tmp_path / "x.png"
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, timeout=120
    )
    assert done.returncode not in (0, 2, -signal.SIGTERM), done.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- train


def test_resume_with_a_corrupt_config_is_one_line(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces")
    out = tmp_path / "run"
    args = ["train", "--data", data, "--attr", "eyeglasses", "--out", out, *TINY_CLI]
    assert invoke(*args, "--steps", "1").exit_code == 0
    (out / "train_config.json").write_text("{not json")
    result = invoke("train", "--out", out, "--resume", "--steps", "2", "-q")
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "not valid JSON" in errors[0]


@pytest.mark.parametrize("left", ["train_config.json", "log.jsonl", "model"])
def test_a_finished_run_without_checkpoints_is_not_overwritten(tmp_path: Path, left: str) -> None:
    data = write_folder_dataset(tmp_path / "faces")
    out = tmp_path / "run"
    args = ["train", "--data", data, "--attr", "eyeglasses", "--out", out, *TINY_CLI]
    assert invoke(*args, "--steps", "1").exit_code == 0
    shutil.rmtree(out / "checkpoints")
    for name in {"train_config.json", "log.jsonl", "model"} - {left}:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))
    result = invoke(*args, "--steps", "1")
    assert result.exit_code == 2, result.output
    assert "already holds a run" in flat(result.output) and left in flat(result.output)
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before


def test_too_small_image_size_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces")
    out = tmp_path / "run"
    tiny = [a if a != "16" else "8" for a in TINY_CLI]
    result = invoke("train", "--data", data, "--attr", "eyeglasses", "--out", out, *tiny,
                    "--steps", "1")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert len(error_lines(result.stderr)) == 1
    assert not out.exists()
    # the same command line with a working size then starts a new run there
    again = invoke("train", "--data", data, "--attr", "eyeglasses", "--out", out, *TINY_CLI,
                   "--steps", "1")  # fmt: skip
    assert again.exit_code == 0, again.output


def test_balanced_batches_without_negatives_is_one_line(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces", positives=False)
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = invoke("train", "--data", data, "--attr", "eyeglasses", "--out", out, *TINY_CLI,
                    "--steps", "1", "--positive-fraction", "0.5")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "positives and negatives" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # the user's file stays


def test_steps_zero_warns_and_exports(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces")
    out = tmp_path / "run"
    result = invoke("train", "--data", data, "--attr", "eyeglasses", "--out", out, *TINY_CLI,
                    "--steps", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: --steps 0: the exported model is untrained" in result.stderr
    assert result.stdout.strip() == str(out / "model")
    assert (out / "model").is_dir()
    assert json.loads((out / "train_config.json").read_text())["steps"] == 0

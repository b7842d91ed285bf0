"""Tests of the ``sagan-edit`` command line: typer's CliRunner and the real console script."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_model
from PIL import Image, ImageCms
from typer.testing import CliRunner

import sagan_edit
from sagan_edit import SaGAN
from sagan_edit.cli import app

SIZE = (80, 70)  # near-square crop, not the model's 64: outputs must still match the input's size


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run this module's tiny models on one thread (restored after).

    On a busy CI machine, torch's thread pool waiting for a free core costs far more than the
    few milliseconds these edits take.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_image(path: Path, size: tuple[int, int] = SIZE, *, seed: int = 0, **save: object) -> Path:
    """Write a random RGB image (format from the suffix) and return its path."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return path


def invoke(runner: CliRunner, *args: object, input: bytes | None = None, **kwargs: object):
    return runner.invoke(app, [str(a) for a in args], input=input, **kwargs)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def console_script() -> str:
    """Path of the installed ``sagan-edit`` console script (beside this Python, else on PATH)."""
    beside = Path(sys.executable).with_name("sagan-edit")
    found = str(beside) if beside.exists() else shutil.which("sagan-edit")
    assert found, "the sagan-edit console script is not installed: run `pip install -e .`"
    return found


def run_script(*args: object, env: dict[str, str] | None = None, stdin: bytes | None = None):
    return subprocess.run(
        [console_script(), *map(str, args)],
        input=stdin,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        timeout=120,
    )


# --------------------------------------------------------------------------- editing files


def test_bare_form_writes_default_name_beside_input(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.jpg")
    before = photo.read_bytes()
    result = invoke(runner, photo, "--weights", tiny_weights)
    assert result.exit_code == 0, result.output
    out = tmp_path / "photo_smiling.png"
    with Image.open(out) as edited:
        assert edited.format == "PNG"
        assert edited.size == SIZE
        assert edited.mode == "RGB"
    assert photo.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg", "photo_smiling.png"]
    assert f"-> {out}" in result.stderr
    assert result.stdout == ""


def test_value_remove_names_output_removed(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    result = invoke(runner, photo, "--weights", tiny_weights, "--value", "remove")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "photo_smiling_removed.png").is_file()
    assert not (tmp_path / "photo_smiling.png").exists()


def test_edit_subcommand_equals_bare_form_and_value_matters(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    bare, explicit, removed = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert invoke(runner, photo, "--weights", tiny_weights, "-o", bare).exit_code == 0
    assert invoke(runner, "edit", photo, "-w", tiny_weights, "-o", explicit).exit_code == 0
    assert (
        invoke(runner, photo, "-w", tiny_weights, "--value", "remove", "-o", removed).exit_code == 0
    )
    pixels = [np.asarray(Image.open(p)) for p in (bare, explicit, removed)]
    assert np.array_equal(pixels[0], pixels[1])
    assert not np.array_equal(pixels[0], pixels[2])


def test_strength_zero_returns_the_input_bit_for_bit(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    out = tmp_path / "same.png"
    result = invoke(runner, photo, "-w", tiny_weights, "--strength", "0", "-o", out)
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(photo)))


def test_box_edits_only_the_face_region(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png", (90, 70))
    out = tmp_path / "boxed.png"
    result = invoke(runner, photo, "-w", tiny_weights, "--box", "10,5,50,45", "-o", out)
    assert result.exit_code == 0, result.output
    edited, original = np.asarray(Image.open(out)), np.asarray(Image.open(photo))
    outside = np.ones(original.shape[:2], bool)
    outside[5:45, 10:50] = False
    assert np.array_equal(edited[outside], original[outside])
    assert not np.array_equal(edited[~outside], original[~outside])


def test_box_usage_and_per_file_errors(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png", (90, 70))
    for bad in ("1,2,3", "a,b,c,d", "0,0,40,30"):
        result = invoke(runner, photo, "-w", tiny_weights, "--box", bad)
        assert result.exit_code == 2, (bad, result.output)
    result = invoke(runner, photo, "-w", tiny_weights, "--box", "50,0,150,100")
    assert result.exit_code == 1
    assert error_lines(result.stderr) and "outside" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "fmt"), [("out.png", "PNG"), ("out.JPG", "JPEG"), ("out.webp", "WEBP")]
)
def test_output_option_format_from_extension_keeps_size_and_icc(
    runner, tiny_weights, tmp_path, name, fmt
):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = write_image(tmp_path / "photo.png", (97, 131), icc_profile=icc)
    out = tmp_path / name
    result = invoke(runner, photo, "--weights", tiny_weights, "-o", out, "--no-align")
    assert result.exit_code == 0, result.output
    with Image.open(out) as edited:
        assert edited.format == fmt
        assert edited.size == (97, 131)
        assert edited.info.get("icc_profile") == icc
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["photo.png", name])


def test_rgba_input_keeps_alpha_in_png(runner, tiny_weights, tmp_path):
    rgba = np.zeros((40, 50, 4), dtype=np.uint8)
    rgba[..., 3] = np.arange(50, dtype=np.uint8)[None, :] * 5
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    result = invoke(runner, tmp_path / "logo.png", "-w", tiny_weights)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "logo_smiling.png") as edited:
        assert edited.mode == "RGBA" and edited.size == (50, 40)
        assert np.array_equal(np.asarray(edited)[..., 3], rgba[..., 3])


def test_save_mask_writes_mask_beside_output(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    result = invoke(runner, photo, "-w", tiny_weights, "--save-mask")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "photo_smiling_mask.png") as mask:
        assert mask.mode == "L" and mask.size == SIZE
    result = invoke(runner, photo, "-w", tiny_weights, "--save-mask", "-o", tmp_path / "x.jpg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x_mask.png").is_file()


# --------------------------------------------------------------------------- several attributes


@pytest.fixture
def tiny_aliases(monkeypatch):
    """``--attr NAME`` loads a tiny random model for NAME (seeded by name) instead of weights."""
    import sagan_edit.cli.edit

    seeds = {"eyeglasses": 0, "smiling": 1, "no_beard": 2}
    loaded: list[str] = []

    def load(name, **kwargs):
        loaded.append(name)
        return make_tiny_model(seeds[name], name) if name in seeds else SaGAN.from_pretrained(name)

    monkeypatch.setattr(sagan_edit.cli.edit, "load_model", load)
    return loaded


def test_several_attributes_apply_in_turn_with_one_union_mask(runner, tiny_aliases, tmp_path):
    from sagan_edit import Editor

    photo = write_image(tmp_path / "photo.png")
    args = [photo, "--attr", "eyeglasses", "-a", "Smiling=REMOVE", "--no-align", "--save-mask"]
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    assert tiny_aliases == ["eyeglasses", "smiling"]
    out = tmp_path / "photo_eyeglasses_smiling_removed.png"
    assert f"-> {out}" in result.stderr and result.stdout == ""
    editor = Editor([make_tiny_model(0, "eyeglasses"), make_tiny_model(1, "smiling")])
    expected = editor.edit(photo, eyeglasses="add", smiling="remove", align=False)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected.image))
    mask = np.asarray(Image.open(tmp_path / "photo_eyeglasses_smiling_removed_mask.png"))
    assert np.array_equal(mask, np.asarray(expected.mask))  # the union of the two masks
    # the order given is the order applied, and the name follows it
    again = invoke(runner, photo, "-a", "smiling=remove", "-a", "eyeglasses", "--no-align")
    assert again.exit_code == 0, again.output
    swapped = np.asarray(Image.open(tmp_path / "photo_smiling_removed_eyeglasses.png"))
    assert not np.array_equal(swapped, np.asarray(expected.image))


def test_several_attributes_on_a_folder_skip_their_own_outputs(runner, tiny_aliases, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "a.png", seed=1)
    (folder / "broken.png").write_bytes(b"not an image")
    args = [folder, "-a", "eyeglasses=remove", "-a", "smiling", "--no-align", "--force"]
    first = invoke(runner, *args)
    assert first.exit_code == 1, first.output
    assert "1 of 2 input(s) failed; 1 written" in first.stderr
    assert "broken.png" in error_lines(first.stderr)[0]
    second = invoke(runner, *args)
    assert second.exit_code == 1, second.output
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["a.png", "a_eyeglasses_removed_smiling.png", "broken.png"]


def test_toggle_lets_the_classifier_decide_and_reports_each_face(
    runner, tiny_weights, tiny_aliases, tmp_path
):
    photos = [write_image(tmp_path / f"p{i}.png", seed=i) for i in range(2)]
    result = invoke(runner, *photos, "-w", tiny_weights, "--value", "toggle", "--no-align")
    assert result.exit_code == 0, result.output
    model = SaGAN.from_pretrained(tiny_weights)
    tally = {"add": 0, "remove": 0}
    for photo in photos:
        out = photo.with_name(f"{photo.stem}_smiling_toggled.png")
        (line,) = [x for x in result.stderr.splitlines() if x.startswith(f"{photo}: face 0:")]
        assert "Smiling" in line and line.endswith(("added", "removed")), line
        action = "remove" if line.endswith("removed") else "add"
        tally[action] += 1
        expected = model.edit(photo, value=action, align=False)
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected.image))
    summary = f"edited 2 image(s); toggle: Smiling removed {tally['remove']}, added {tally['add']}"
    assert summary in result.stderr
    # --attr NAME=toggle is the same; -q prints nothing
    quiet = invoke(runner, photos[0], "-a", "eyeglasses=toggle", "--no-align", "-q", "-o",
                   tmp_path / "q.png")  # fmt: skip
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output


# --------------------------------------------------------------------------- folders and batches


def make_folder(folder: Path) -> Path:
    """Two good images, a corrupt one and a non-image file."""
    folder.mkdir()
    write_image(folder / "a.png", seed=1)
    write_image(folder / "b.jpg", (64, 64), seed=2)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    (folder / "notes.txt").write_text("not an image, not even tried")
    return folder


def test_out_dir_with_a_corrupt_file_writes_the_others_and_exits_1(runner, tiny_weights, tmp_path):
    folder = make_folder(tmp_path / "photos")
    out_dir = tmp_path / "out" / "nested"
    result = invoke(runner, folder, "--weights", tiny_weights, "--out-dir", out_dir)
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["a_smiling.png", "b_smiling.png"]
    assert Image.open(out_dir / "b_smiling.png").size == (64, 64)
    broken = [line for line in result.stderr.splitlines() if "broken.png" in line]
    assert len(broken) == 1 and broken[0].startswith("error:"), result.stderr
    assert "1 of 3 input(s) failed; 2 written" in result.stderr
    assert "Traceback" not in result.output
    assert "notes" not in result.output


def test_batching_across_files_writes_the_bytes_of_one_file_at_a_time(
    runner, tiny_weights, tmp_path, monkeypatch
):
    """Faces of several files share forward passes; every output is still byte-identical."""
    from sagan_edit.cli import edit

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        write_image(folder / f"c{i}.png", (64 + 16 * i, 64 + 8 * i), seed=10 + i)
    (folder / "c2_broken.png").write_bytes(b"not an image")  # skipped, the others go on
    outputs = {}
    # 1: one face per pass; 3: full passes across files, then a partial one; default (16): one
    # pass for all; "tiny": the images waiting exceed MAX_WAITING_PIXELS, so passes run early.
    for run in ("1", "3", "default", "tiny"):
        if run == "tiny":
            monkeypatch.setattr(edit, "MAX_WAITING_PIXELS", 100)
        out_dir = tmp_path / f"out-{run}"
        batch = [] if run in ("default", "tiny") else ["--batch-size", run]
        result = invoke(runner, folder, "-w", tiny_weights, "-d", out_dir, "--no-align", *batch)
        assert result.exit_code == 1, result.output
        assert error_lines(result.stderr)[0].startswith("error: ") and "c2_broken" in result.stderr
        assert "1 of 6 input(s) failed; 5 written" in result.stderr
        names = sorted(p.name for p in out_dir.iterdir())
        assert names == [f"c{i}_smiling.png" for i in range(5)]
        outputs[run] = [(out_dir / name).read_bytes() for name in names]
    assert outputs["3"] == outputs["1"]
    assert outputs["default"] == outputs["1"]
    assert outputs["tiny"] == outputs["1"]


def test_folder_outputs_beside_inputs_and_rerun_skips_own_outputs(runner, tiny_weights, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "a.png", seed=1)
    write_image(folder / "b.png", seed=2)
    first = invoke(runner, folder, "-w", tiny_weights, "--save-mask")
    assert first.exit_code == 0, first.output
    assert "edited 2 image(s)" in first.stderr
    again = invoke(runner, folder, "-w", tiny_weights, "--save-mask")
    assert again.exit_code == 1
    assert len(error_lines(again.stderr)) == 3  # two "already exists" and the summary
    forced = invoke(runner, folder, "-w", tiny_weights, "--save-mask", "--force")
    assert forced.exit_code == 0, forced.output
    removed = invoke(runner, folder, "-w", tiny_weights, "--value", "remove")
    assert removed.exit_code == 0, removed.output
    assert sorted(p.name for p in folder.iterdir()) == [
        "a.png", "a_smiling.png", "a_smiling_mask.png", "a_smiling_removed.png",
        "b.png", "b_smiling.png", "b_smiling_mask.png", "b_smiling_removed.png",
    ]  # fmt: skip


def test_progress_bar_on_stderr_in_a_terminal(runner, tiny_weights, tmp_path):
    write_image(tmp_path / "a.png", seed=1)
    write_image(tmp_path / "b.png", seed=2)
    result = invoke(
        runner, tmp_path / "a.png", tmp_path / "b.png", "-w", tiny_weights,
        env={"TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2/2" in result.stderr and "editing" in result.stderr
    assert result.stdout == ""
    quiet = invoke(runner, tmp_path / "a.png", "-w", tiny_weights, "-o", tmp_path / "q.png", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


# --------------------------------------------------------------------------- stdin and stdout


def test_stdin_to_stdout_in_process(runner, tiny_weights, tmp_path):
    data = write_image(tmp_path / "photo.png").read_bytes()
    result = invoke(runner, "-", "--weights", tiny_weights, input=data)
    assert result.exit_code == 0, result.stderr
    with Image.open(io.BytesIO(result.stdout_bytes)) as edited:
        assert edited.format == "PNG" and edited.size == SIZE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_stdin_garbage_is_one_error_line(runner, tiny_weights):
    result = invoke(runner, "-", "--weights", tiny_weights, input=b"garbage")
    assert result.exit_code == 1
    assert result.stdout_bytes == b""
    assert len(error_lines(result.stderr)) == 2  # the bad input and the summary
    assert "<stdin>" in result.stderr and "not a readable image" in result.stderr


def test_console_script_pipes_stdin_to_stdout(tiny_weights, tmp_path):
    """Image bytes on stdout only, with --verbose's time split on stderr (start-up measured)."""
    data = write_image(tmp_path / "photo.jpg").read_bytes()
    done = run_script("-", "--weights", tiny_weights, "--device", "cpu", "--verbose", stdin=data)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(done.stdout)).size == SIZE
    times = time_split(done.stderr.decode())
    if sys.platform == "linux":  # from the kernel's record of the process start
        assert 0 < times["start-up"] < times["total"]
    assert sum(v for k, v in times.items() if k != "total") <= times["total"] + 0.01


TIME_LINE = re.compile(
    r"^time: (?P<stages>.*); total (?P<total>[0-9.]+) s( since the command started)? \((.*)\)$"
)
STAGES = ("start-up", "imports", "model load", "read", "detect/align", "edit", "paste-back", "write")  # fmt: skip  # noqa: E501


def time_split(stderr: str) -> dict[str, float]:
    """The stages of the ``--verbose`` line, in seconds, and ``total``."""
    (line,) = [line for line in stderr.splitlines() if line.startswith("time: ")]
    match = TIME_LINE.match(line)
    assert match, line
    stages = dict(part.rsplit(" ", 2)[:2] for part in match["stages"].split(", "))
    assert tuple(stages) == STAGES, line
    seconds = {k: 0.0 if v == "unknown" else float(v) for k, v in stages.items()}
    return {**seconds, "total": float(match["total"])}


def test_verbose_reports_the_time_of_each_stage_on_stderr(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    result = invoke(runner, photo, "-w", tiny_weights, "-o", tmp_path / "out.png", "--verbose")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    times = time_split(result.stderr)
    assert all(value >= 0 for value in times.values())
    assert "(1 image(s) written, 1 face(s) edited)" in result.stderr
    quiet = invoke(runner, photo, "-w", tiny_weights, "-o", tmp_path / "o.png", "-v", "-q")
    assert quiet.exit_code == 2 and "--verbose and --quiet exclude each other" in quiet.stderr


# --------------------------------------------------------------------------- overwriting


def test_never_overwrites_an_input_even_with_force(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    before = photo.read_bytes()
    result = invoke(runner, photo, "-w", tiny_weights, "-o", photo, "--force")
    assert result.exit_code == 1
    assert "refusing to overwrite the input" in result.stderr
    assert photo.read_bytes() == before
    # an input that happens to carry another input's default output name
    other = write_image(tmp_path / "photo_smiling.png", seed=3)
    other_before = other.read_bytes()
    result = invoke(runner, photo, other, "-w", tiny_weights, "--force")
    assert result.exit_code == 1
    assert "refusing to overwrite the input" in result.stderr
    assert other.read_bytes() == other_before
    assert (tmp_path / "photo_smiling_smiling.png").is_file()  # the other input was edited


def test_existing_output_needs_force(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    out = tmp_path / "photo_smiling.png"
    out.write_bytes(b"precious")
    result = invoke(runner, photo, "-w", tiny_weights)
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    result = invoke(runner, photo, "-w", tiny_weights, "--force")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == SIZE
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_two_inputs_with_one_output_name(runner, tiny_weights, tmp_path):
    write_image(tmp_path / "face.png", seed=1)
    write_image(tmp_path / "face.jpg", seed=2)
    result = invoke(runner, tmp_path / "face.png", tmp_path / "face.jpg", "-w", tiny_weights)
    assert result.exit_code == 1
    assert "is also the output for" in result.stderr
    assert (tmp_path / "face_smiling.png").is_file()


# --------------------------------------------------------------------------- usage and errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{photo}"], "--attr"),
        (["{photo}", "--attr", "smiling", "--weights", "{weights}"], "exactly one"),
        (["{photo}", "--attr", "bald"], "unknown attribute"),
        (["{photo}", "-w", "{weights}", "--strength", "1.5"], "--strength"),
        (["{photo}", "-w", "{weights}", "--value", "maybe"], "'add', 'remove', 'toggle'"),
        (["{photo}", "--attr", "eyeglasses=maybe"], "must be add, remove or toggle"),
        (["{photo}", "--attr", "eyeglasses", "-a", "Eyeglasses=remove"], "named twice"),
        (["{photo}", "--attr", "bald=add"], "unknown attribute 'bald'"),
        (["{photo}", "--attr", "eyeglasses", "-w", "{weights}"], "exactly one"),
        (["{photo}", "{photo}", "-w", "{weights}", "-o", "{tmp}/x.png"], "single input"),
        (["{tmp}", "-w", "{weights}", "-o", "{tmp}/x.png"], "single input"),
        (["{photo}", "-w", "{weights}", "-o", "{tmp}/x.png", "--out-dir", "{tmp}"], "either"),
        (["{photo}", "-w", "{weights}", "-o", "{tmp}/x.gif"], ".png, .jpg or .webp"),
        (["{photo}", "-w", "{weights}", "-o", "{tmp}/no/such/x.png"], "does not exist"),
        (["{photo}", "-w", "{weights}", "-o", "-", "--save-mask"], "--save-mask"),
        (["{photo}", "-w", "{weights}", "--out-dir", "{photo}"], "not a folder"),
        (["{tmp}/missing.png", "-w", "{weights}"], "does not exist"),
        (["-", "{photo}", "-w", "{weights}"], "only input"),
        (["{photo}", "-w", "{weights}", "--device", "cuda:x"], "--device"),
        (["{photo}", "-w", "{weights}", "--bogus"], "--bogus"),
        (["edit"], "Missing argument"),
        (["donwload", "eyeglasses"], "did you mean 'download'"),
        (["download"], "--all"),
    ],
)
def test_usage_errors_exit_2(runner, tiny_weights, tmp_path, args, message):
    photo = write_image(tmp_path / "photo.png")
    fill = {"photo": photo, "weights": tiny_weights, "tmp": tmp_path}
    result = invoke(runner, *(a.format(**fill) for a in args))
    assert result.exit_code == 2, result.output
    flat = " ".join(result.stderr.replace("│", " ").split())  # typer boxes and wraps the message
    assert message in flat, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_missing_weights_offline_is_one_line(tmp_path):
    photo = write_image(tmp_path / "photo.jpg")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    # an alias at a revision stands for its Hub repo, embedded or not
    done = run_script(photo, "--attr", "smiling", "--revision", "main", env=env)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert "smiling" in stderr and "offline" in stderr and "--weights PATH" in stderr
    assert "Traceback" not in stderr and done.stdout == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


@pytest.mark.parametrize("damage", ["empty folder", "truncated weights", "not a folder"])
def test_invalid_weights_are_one_line(runner, tiny_weights, tmp_path, damage):
    photo = write_image(tmp_path / "photo.png")
    bad = tmp_path / "bad"
    if damage == "not a folder":
        bad.write_text("x")
    else:
        bad.mkdir()
        if damage == "truncated weights":
            shutil.copy(tiny_weights / "config.json", bad)
            data = (tiny_weights / "model.safetensors").read_bytes()
            (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    result = invoke(runner, photo, "--weights", bad)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error:")
    assert "Traceback" not in result.output
    assert not (tmp_path / "photo_smiling.png").exists()


def test_version_and_help(runner):
    result = invoke(runner, "--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"sagan-edit {sagan_edit.__version__}"
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    assert "edit" in result.stdout and "download" in result.stdout
    assert "--attr" in invoke(runner, "edit", "--help").stdout


# --------------------------------------------------------------------------- download (fake Hub)


def test_download_then_edit_offline(
    runner, fake_hub, hf_home, tiny_weights, tmp_path, monkeypatch, no_embedded_models
):
    """`download` fills the cache through the real client; editing then works offline."""
    from huggingface_hub import constants

    fake_hub.add(sagan_edit.PRETRAINED["smiling"], tiny_weights)
    result = invoke(runner, "download", "smiling", "missing/repo")
    assert result.exit_code == 1  # the missing repo, reported in one line after the good one
    folder = Path(result.stdout.strip())
    assert folder.is_dir() and folder.is_relative_to(hf_home)
    assert (folder / "model.safetensors").read_bytes() == (
        tiny_weights / "model.safetensors"
    ).read_bytes()
    assert len(error_lines(result.stderr)) == 1 and "missing/repo" in result.stderr

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    fake_hub.clear()
    photo = write_image(tmp_path / "photo.png")
    result = invoke(runner, photo, "--attr", "Smiling")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "photo_smiling.png").is_file()
    assert fake_hub.requests == []


def test_models_lists_each_alias_and_where_it_loads_from(runner, no_embedded_models, tiny_weights):
    shutil.copytree(tiny_weights, no_embedded_models / "smiling")
    result = invoke(runner, "models")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert list(rows) == list(sagan_edit.PRETRAINED)
    assert rows["smiling"] == ["embedded", str(no_embedded_models / "smiling")]
    assert rows["eyeglasses"] == ["hub", sagan_edit.PRETRAINED["eyeglasses"]]


def test_download_of_an_embedded_alias_needs_no_network(runner, fake_hub):
    result = invoke(runner, "download", "eyeglasses")
    assert result.exit_code == 0, result.output
    assert "embedded in the package" in result.stderr
    assert (Path(result.stdout.strip()) / "config.json").is_file()
    assert fake_hub.requests == []


def test_photos_without_a_face_are_reported_and_the_others_go_on(runner, tiny_weights, tmp_path):
    class NoFaces:
        def detect(self, rgb, *, min_face_size=80):
            return []

    import sagan_edit.editor
    import sagan_edit.model

    photo = write_image(tmp_path / "wide.png", (300, 120))
    crop = write_image(tmp_path / "crop.png", (64, 64), seed=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sagan_edit.model, "get_detector", lambda: NoFaces())
        result = invoke(runner, photo, crop, "-w", tiny_weights)
        assert result.exit_code == 1
        assert error_lines(result.stderr)[0].startswith("error: ")
        assert "wide.png: no face of at least 80 px found" in result.stderr
        # the library's advice, in the command line's words
        assert "--min-face-size" in result.stderr and "--box" in result.stderr
        assert "--no-align" in result.stderr
        assert "min_face_size" not in result.stderr and "align=" not in result.stderr
        assert (tmp_path / "crop_smiling.png").is_file()
        assert not (tmp_path / "wide_smiling.png").exists()
        again = invoke(runner, photo, "-w", tiny_weights, "--no-align")
        assert again.exit_code == 0, again.output
        numbered = invoke(runner, photo, "-w", tiny_weights, "--face", "1", "-f")
        assert numbered.exit_code == 1 and "no face" in numbered.stderr
        # several attributes (the editor's path) report it the same way
        patch.setattr(sagan_edit.editor, "get_detector", lambda: NoFaces())
        both = invoke(runner, photo, "-w", tiny_weights, "--value", "toggle")
        assert both.exit_code == 1 and "wide.png: no face" in both.stderr
        assert "--min-face-size" in both.stderr and "min_face_size" not in both.stderr


def test_library_advice_is_put_in_option_words():
    from sagan_edit.cli.edit import cli_wording

    message = (
        "x.png: no face of at least 80 px found (lower min_face_size, give the face's box=, or "
        "edit the image as an aligned face crop: align=False)"
    )
    assert cli_wording(message) == (
        "x.png: no face of at least 80 px found (lower --min-face-size, give the face's --box, "
        "or edit the image as an aligned face crop: --no-align)"
    )
    assert cli_wording("faces [1, 3] asked for, but 2 found") == (
        "--face 1 --face 3 asked for, but 2 found"
    )


def test_box_excludes_align(runner, tiny_weights, tmp_path):
    photo = write_image(tmp_path / "photo.png")
    result = invoke(runner, photo, "-w", tiny_weights, "--box", "0,0,40,40", "--align")
    assert result.exit_code == 2
    assert "excludes --align" in result.output


# --------------------------------------------------------------------------- help text


def help_text(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.stdout


COMMANDS = ((), ("edit",), ("download",), ("train",), ("eval",))


def help_examples() -> list[str]:
    """Every example command line in ``--help``: quoted ones and those in an examples block."""
    examples: list[str] = []
    for command in COMMANDS:
        text = help_text(*command)
        examples += re.findall(r"'(sagan-edit [^']*)'", " ".join(text.split()))
        block = [line.strip() for line in text.splitlines()]
        examples += [line for line in block if re.match(r"(cat .*\| )?sagan-edit ", line)]
    return list(dict.fromkeys(examples))


def test_help_examples_run_as_written(tmp_path, monkeypatch):
    """Each example runs in a folder holding the files it names (any model: a tiny one here)."""
    import sagan_edit.cli.edit

    monkeypatch.setattr(
        sagan_edit.cli.edit, "load_model", lambda name, **kw: make_tiny_model(attribute=name)
    )
    examples = help_examples()
    assert len(examples) >= 4, examples
    for i, example in enumerate(examples):
        folder = tmp_path / f"example{i}"
        (folder / "photos").mkdir(parents=True)
        for path in (folder / "photo.jpg", folder / "photos/a.png", folder / "photos/b.jpg"):
            write_image(path, (64, 64))
        monkeypatch.chdir(folder)
        stdin = None
        command, _, redirect = example.partition(" > ")
        if command.startswith("cat "):
            source, _, command = command.partition(" | ")
            stdin = (folder / source.split()[1]).read_bytes()
        words = shlex.split(command)
        assert words[0] == "sagan-edit", example
        result = CliRunner().invoke(app, words[1:], input=stdin)
        assert result.exit_code == 0, (example, result.output)
        if redirect:
            assert result.stdout_bytes[:8] == b"\x89PNG\r\n\x1a\n", example


def test_help_lists_choices_and_no_flag_values():
    texts = {command: help_text(*command) for command in COMMANDS}
    for text in texts.values():
        assert "<bool>" not in text and "<str>" not in text and "<list" not in text
        assert "{" not in text.splitlines()[0], text  # typer's {INPUT}... in the usage line
    train = texts[("train",)]
    choices = (
        "--variant [attention|none|residual]",
        "--precision [auto|fp32|bf16]",
        "--data-format [celeba|celebahq|folder|packed]",
    )
    for shown in (*choices, "--resume  ", "-q, --quiet  "):
        assert shown in train, shown
    assert "--data-format [celeba|celebahq|folder|packed]" in texts[("eval",)]
    edit = " ".join(texts[("edit",)].split())
    assert "--value [add|remove|toggle]" in edit and "--align / --no-align Find" in edit
    assert "-a, --attr ALIAS[=VALUE]" in edit
    assert edit.startswith("Usage: sagan-edit edit [OPTIONS] INPUT... ")
    assert "Arguments: INPUT... Image files" in edit
    download = " ".join(texts[("download",)].split())
    assert download.startswith("Usage: sagan-edit download [OPTIONS] [NAME]... ")
    assert "Arguments: NAME... Aliases" in download
    assert "centred square" not in edit and "find and align every face of a photo" in edit


def test_train_help_is_readable_at_100_columns():
    lines = help_text("train").splitlines()
    assert max(len(line) for line in lines) <= 100
    # one option per line where it fits: name, placeholder and a description of 60+ characters
    lr = next(line for line in lines if line.lstrip().startswith("--lr X"))
    assert "Adam learning rate of G and D.  [default: 0.0002]" in lr
    described = [line for line in lines if line.startswith("  --") and len(line) > 70]
    assert len(described) >= 10


def test_cli_lists_match_the_library():
    """``--help`` spells some library values out (it must not import torch): they must agree."""
    from sagan_edit.cli import _common
    from sagan_edit.data import FORMATS, SPLITS
    from sagan_edit.networks import GENERATOR_VARIANTS
    from sagan_edit.train import PRECISIONS, PRESETS

    assert _common.ALIASES == tuple(sagan_edit.PRETRAINED)
    assert _common.DATA_FORMATS == tuple(FORMATS)
    assert _common.SPLITS == tuple(SPLITS)
    assert _common.VARIANTS == tuple(GENERATOR_VARIANTS)
    assert _common.PRECISIONS == tuple(PRECISIONS)
    assert _common.PRESETS == tuple(PRESETS)


def test_train_options_map_onto_train_config_fields():

    import typer.main

    from sagan_edit.cli.train import RUN_OPTIONS, config_fields
    from sagan_edit.train import TrainConfig

    fields = set(TrainConfig.setting_names())
    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    names = {param.name for param in command.params}
    assert RUN_OPTIONS <= names
    for name in names - RUN_OPTIONS:
        assert config_fields(name) and set(config_fields(name)) <= fields, name
    # the defaults --help shows (spelled out: the CLI must not import torch) are TrainConfig's
    defaults = TrainConfig().settings()
    for param in command.params:
        if param.default is None:  # none shown (--attr is required, --data defaults to none)
            continue
        for field in config_fields(param.name):
            assert param.default == defaults[field], (param.name, field)


@pytest.mark.parametrize("order", [1, -1])
def test_train_disc_base_channels_wins_over_base_channels_in_either_order(order):
    from sagan_edit.cli.train import settings_from_options

    given = dict([("base_channels", 16), ("disc_base_channels", 32)][::order])
    assert settings_from_options(given) == {"base_channels": 16, "disc_base_channels": 32}
    assert settings_from_options({"base_channels": 24}) == {
        "base_channels": 24,
        "disc_base_channels": 24,
    }


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--steps", "-1", "'--steps'"),
        ("--lr", "0", "'--lr'"),
        ("--residual-blocks", "-1", "'--residual-blocks'"),
        ("--base-channels", "0", ""),  # the message names no single setting
    ],
)
def test_train_bad_values_are_usage_errors_naming_the_option(tmp_path, option, value, named):
    out = tmp_path / "run"
    args = ["train", "--data", tmp_path, "--attr", "eyeglasses", "--out", out, option, value]
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 2, result.output
    expected = f"Invalid value for {named}:" if named else "Invalid value:"
    assert expected in result.stderr
    assert not out.exists()

"""It learns: a short run on synthetic faces finds the attribute's place and edits it.

The run goes in a subprocess with the CPU kernels pinned (see `learning_check`), so that every
x86-64 machine follows the trajectory whose margins were measured; the margins hold on several
seeds (the numbers are in the comments below), not on one trajectory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagan_edit.hardware import cpu_flags

HERE = Path(__file__).parent


def pinned_environment() -> dict[str, str]:
    """The environment of the check's process: AVX2 kernels and one thread, where x86-64."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if "avx2" in cpu_flags():
        env.update(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2")
    return env


def run_check(out: Path, seed: int, **changes: object) -> dict[str, float]:
    """Run `learning_check` for ``seed`` in a pinned subprocess; return its scores."""
    args = [f"{k}={json.dumps(v)}" for k, v in changes.items()]
    done = subprocess.run(
        [sys.executable, str(HERE / "learning_check.py"), str(seed), str(out), *args],
        env=pinned_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_synthetic_marks_are_found_and_edited(tmp_path: Path) -> None:
    """After a short run the mask sits on the bar and edits add and remove it, nothing else.

    A flipped sign of G's attribute loss, or G aiming at the real label instead of the flipped
    one, leaves the bars as they are (add/remove errors ~1.0) and fails this test.
    """
    scores = run_check(tmp_path, seed=0)
    print("synthetic check:", {k: round(v, 3) for k, v in scores.items()})
    assert scores["step"] == 500
    assert scores["inside"] > 0.7, scores  # uniform mask: 0.125
    assert scores["mask_in"] > 10 * scores["mask_out"], scores
    assert scores["add_error"] < 0.65, scores  # 1.0 = bar not added at all
    assert scores["remove_error"] < 0.65, scores
    assert scores["outside_change"] < 0.03, scores
    assert scores["identity_change"] < 0.03, scores
    assert (tmp_path / "samples/step_0000500.png").is_file()


@pytest.mark.skipif("avx2" not in cpu_flags(), reason="the kernel pin needs an AVX2 CPU")
def test_the_pin_makes_the_kernels_those_of_avx2() -> None:
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=pinned_environment(), capture_output=True, text=True
    )
    assert done.stdout.strip() == "AVX2", done.stderr

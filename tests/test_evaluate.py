"""Evaluation: Fréchet distance on Gaussians, attribute boxes, known-answer metrics, the CLI."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from sagan_edit import SaGAN, SaGANConfig
from sagan_edit.align import CELEBAHQ_TEMPLATE
from sagan_edit.classifier import AttributeClassifier, ClassifierConfig
from sagan_edit.cli import app
from sagan_edit.data import default_data_root, load_dataset
from sagan_edit.evaluate import (
    EvaluationError,
    EvaluationReport,
    FrechetStats,
    _BatchResults,
    _DirectionTotals,
    attribute_region,
    evaluate,
    frechet_distance,
    load_inception,
    region_mask,
)
from sagan_edit.model_card import render_model_card

# ------------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_of_identical_gaussians_is_zero_and_a_shift_adds_its_square() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    sigma = a @ a.T + np.eye(6)
    mu = rng.normal(size=6)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-9)
    shift = np.arange(6.0)
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(shift @ shift)


def test_frechet_distance_of_diagonal_gaussians_has_the_closed_form() -> None:
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum() + 3.0  # + |(1,1,1)|^2
    got = frechet_distance(np.zeros(3), np.diag(s1), np.ones(3), np.diag(s2))
    assert got == pytest.approx(expected)


def test_frechet_distance_of_non_commuting_covariances_matches_the_2x2_identity() -> None:
    # For a 2x2 matrix M with positive eigenvalues, tr(sqrt(M)) = sqrt(tr M + 2 sqrt(det M)).
    s1 = np.array([[2.0, 0.8], [0.8, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 3.0]])
    product = s1 @ s2
    trace_root = math.sqrt(np.trace(product) + 2 * math.sqrt(np.linalg.det(product)))
    expected = np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(expected)
    assert frechet_distance(np.zeros(2), s2, np.zeros(2), s1) == pytest.approx(expected)


def test_frechet_stats_estimate_the_distance_of_sampled_gaussians() -> None:
    rng = np.random.default_rng(1)
    s1 = np.diag([1.0, 2.0, 0.5])
    s2 = np.array([[1.5, 0.4, 0.0], [0.4, 1.0, 0.2], [0.0, 0.2, 0.8]])
    mu2 = np.array([0.5, -0.5, 1.0])
    first, second = FrechetStats(), FrechetStats()
    for _ in range(20):  # in batches, as evaluate feeds them
        first.update(rng.multivariate_normal(np.zeros(3), s1, size=10_000))
        second.update(torch.from_numpy(rng.multivariate_normal(mu2, s2, size=10_000)))
    mean, cov = second.mean_cov()
    np.testing.assert_allclose(mean, mu2, atol=0.02)
    np.testing.assert_allclose(cov, s2, atol=0.03)
    exact = frechet_distance(np.zeros(3), s1, mu2, s2)
    assert first.distance(second) == pytest.approx(exact, rel=0.03)
    with pytest.raises(EvaluationError, match="two images"):
        FrechetStats().mean_cov()


# ------------------------------------------------------------------------- attribute boxes


def test_attribute_boxes_follow_the_face_template() -> None:
    eyes = attribute_region("eyeglasses")  # CelebA-HQ's template
    (rx, ry), (lx, ly), (nx, ny) = CELEBAHQ_TEMPLATE
    assert eyes is not None and eyes[0] < rx < lx < eyes[2] and eyes[1] < ry < eyes[3]
    assert eyes[1] < ly < eyes[3] < ny  # down to the nose's middle, not past the nose
    assert (eyes[0] + eyes[2]) / 2 == pytest.approx((rx + lx) / 2)  # centred on the eyes
    mouth = attribute_region("Mouth_Slightly_Open")
    assert mouth is not None and eyes[3] < mouth[1] < mouth[3] < 1
    beard = attribute_region("no beard")
    assert beard is not None and beard[1] < mouth[1] < mouth[3] < 0.95 < beard[3] <= 1
    assert attribute_region("Male") is None
    # a template twice as wide and shifted moves and scales the box with it
    wide = attribute_region("eyeglasses", [[0.25, 0.5], [0.75, 0.5], [0.5, 0.7]])  # clipped
    assert wide == pytest.approx((0.0, 0.225, 1.0, 0.775))
    mask = region_mask((0.25, 0.5, 0.75, 1.0), 8)
    assert mask.sum() == 4 * 4 and mask[4:, 2:6].all()


# ----------------------------------------------------------------- metrics, known answers

SIZE = 64


def write_test_set(folder: Path, count: int = 10, positives: int = 4) -> Path:
    """Random 64 px faces, the first ``positives`` with Eyeglasses, all in the test split."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    rows = ["file,Eyeglasses,Smiling,split"]
    for i in range(count):
        pixels = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
        rows.append(f"{i}.png,{int(i < positives)},{i % 2},test")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def biased_judge(eyeglasses_logit: float = 20.0) -> AttributeClassifier:
    """A judge whose outputs ignore the image: Eyeglasses always, nothing else ever."""
    torch.manual_seed(0)
    judge = AttributeClassifier(ClassifierConfig(image_size=32, channels=[2, 2, 2, 2, 2], hidden=4))
    judge.head.weight.data.zero_()
    judge.head.bias.data.fill_(-20.0)
    judge.head.bias.data[judge.index("Eyeglasses")] = eyeglasses_logit
    return judge


def tiny_model(variant: str = "attention") -> SaGAN:
    torch.manual_seed(0)
    config = SaGANConfig(
        "Eyeglasses", image_size=SIZE, base_channels=4, num_residual_blocks=1, variant=variant
    )
    return SaGAN(config)


@pytest.fixture
def test_set(tmp_path: Path):
    return load_dataset(write_test_set(tmp_path / "faces"), "eyeglasses", split="test",
                        image_size=SIZE)  # fmt: skip


def test_an_untouched_image_scores_perfect_preservation(test_set) -> None:
    model = tiny_model()
    model.generator.san.output.bias.data.fill_(-1e4)  # mask 0: every edit is the input
    report, grid = evaluate(model, test_set, classifier=biased_judge(), batch_size=4)
    for direction in (report.add, report.remove):
        assert direction.mean_abs_change == 0 and direction.psnr is None
        assert direction.mean_abs_change_outside == 0 and direction.psnr_outside is None
        assert direction.mask_mean == 0 and direction.attribute_preservation == 1.0
    assert report.reconstruction_psnr is None
    assert report.frechet_classifier_distance == pytest.approx(0, abs=1e-6)
    assert grid is not None and grid.shape == (8 * (SIZE + 4), 4 * SIZE + 4, 3)


def test_editing_accuracy_and_judge_accuracy_count_the_targets(test_set) -> None:
    model = tiny_model()
    report, _ = evaluate(model, test_set, classifier=biased_judge(), num_samples=0)
    # the judge sees eyeglasses everywhere: every "add" succeeds, every "remove" fails
    assert (report.add.images, report.remove.images) == (6, 4)
    assert report.add.editing_accuracy == 1.0 and report.remove.editing_accuracy == 0.0
    assert report.add.judge_accuracy_on_inputs == 0.0
    assert report.remove.judge_accuracy_on_inputs == 1.0
    assert report.add.attribute_preservation == 1.0  # the others never flip
    assert set(report.flip_rates) == set(biased_judge().attributes) - {"Eyeglasses"}
    # the headline figures go into the model card
    model.config.extra["evaluation"] = report.summary()
    card = render_model_card(model.config)
    assert "| editing accuracy, add / remove | 100.0% / 0.0% |" in card


def test_constant_mask_gives_known_mask_statistics(test_set) -> None:
    model = tiny_model()
    model.generator.san.output.weight.data.zero_()
    model.generator.san.output.bias.data.fill_(math.log(0.25 / 0.75))  # mask 0.25 everywhere
    report, _ = evaluate(model, test_set, classifier=biased_judge(), num_samples=0)
    box = attribute_region("Eyeglasses")
    inside_share = float(region_mask(box, SIZE).float().mean())
    for direction in (report.add, report.remove):
        assert direction.mask_mean == pytest.approx(0.25)
        assert direction.mask_area_above_half == 0.0
        assert direction.mask_mass_inside_box == pytest.approx(inside_share)


def test_whole_image_generator_changes_are_measured_exactly(test_set) -> None:
    model = tiny_model("none")
    model.generator.amn.output.weight.data.zero_()
    model.generator.amn.output.bias.data.zero_()  # every edit is the flat grey image 0 -> 128
    report, _ = evaluate(model, test_set, classifier=biased_judge(), num_samples=0)
    pixels = np.stack([test_set.pixels(i) for i in range(len(test_set))]).astype(np.float64)
    change = np.abs(pixels - 128)
    outside = ~region_mask(attribute_region("Eyeglasses"), SIZE).numpy()
    removes = slice(0, 4)  # the first four have eyeglasses: they are edited to remove them
    assert report.remove.mean_abs_change == pytest.approx(change[removes].mean())
    assert report.remove.mean_abs_change_outside == pytest.approx(
        change[removes][:, outside].mean()
    )
    mse = ((pixels[4:] - 128) ** 2).mean()
    assert report.add.psnr == pytest.approx(10 * math.log10(255**2 / mse))
    assert report.add.mask_mean is None  # no attention mask to describe


def test_direction_totals_count_only_their_own_direction() -> None:
    # three images, columns (target, other): image 0 and 2 are edited to 1, image 1 to 0
    labels = torch.tensor([0.0, 1.0, 0.0])
    p_in = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.7, 0.2]])
    p_out = torch.tensor([[0.9, 0.9], [0.6, 0.2], [0.3, 0.8]])
    diff = torch.zeros(3, 3, 2, 2)
    diff[0] = 2.0
    mask = torch.tensor([1.0, 0.0, 0.25]).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    outside = torch.tensor([[True, False], [False, False]])
    batch = _BatchResults(labels, 1 - labels, p_in, p_out, diff, mask)
    add = _DirectionTotals(1.0, 0, [1], outside)
    add.add(batch)
    add.add(batch)  # sums over batches: the same figures twice over
    metrics = add.finish(attention=True)
    assert metrics.images == 4
    assert metrics.editing_accuracy == 0.5  # image 0 gained it, image 2 did not
    assert metrics.judge_accuracy_on_inputs == 0.5  # the judge saw it on image 2
    assert metrics.attribute_preservation == 0.5  # image 2's other attribute flipped
    assert add.flips.tolist() == [0.0, 2.0]
    assert metrics.mean_abs_change == pytest.approx(1.0)
    assert metrics.psnr == pytest.approx(10 * math.log10(255**2 / 2.0))
    assert metrics.mean_abs_change_outside == pytest.approx(1.0)
    assert metrics.mask_mean == pytest.approx(0.625) and metrics.mask_area_above_half == 0.5
    assert metrics.mask_mass_inside_box == pytest.approx(0.75)
    remove = _DirectionTotals(0.0, 0, [1], None)
    remove.add(batch)
    metrics = remove.finish(attention=False)
    assert (metrics.images, metrics.editing_accuracy, metrics.mean_abs_change) == (1, 0.0, 0.0)
    assert metrics.psnr is None and metrics.psnr_outside is None and metrics.mask_mean is None
    assert _DirectionTotals(1.0, 0, [1], None).finish(attention=True).images == 0


def test_a_single_image_is_measured_without_a_frechet_distance(test_set) -> None:
    one = load_dataset(test_set.image_dir, "eyeglasses", split="test", image_size=SIZE, limit=1)
    report, _ = evaluate(tiny_model(), one, classifier=biased_judge(), num_samples=0)
    assert report.remove.images == 1 and report.frechet_classifier_distance is None


def test_evaluate_refuses_images_of_another_size(tmp_path: Path) -> None:
    data = load_dataset(write_test_set(tmp_path / "faces"), "eyeglasses", split="test",
                        image_size=32)  # fmt: skip
    with pytest.raises(EvaluationError, match="32 px"):
        evaluate(tiny_model(), data, classifier=biased_judge())


# ---------------------------------------------------------------------------------- CLI


class FakeInception(torch.nn.Module):
    """Stands in for the FID network: same call convention, 3-d 'features'."""

    def forward(self, images: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert images.dtype == torch.uint8
        return images.float().mean(dim=(2, 3))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_cli_eval_writes_metrics_table_and_grid(tmp_path: Path) -> None:
    data = write_test_set(tmp_path / "faces")
    model_dir = tiny_model().save_pretrained(tmp_path / "model")
    judge_dir = biased_judge().save_pretrained(tmp_path / "judge")
    inception = tmp_path / "inception.pt"
    torch.jit.script(FakeInception()).save(str(inception))
    out = tmp_path / "eval"
    args = ["eval", "--weights", str(model_dir), "--data", str(data), "--out", str(out),
            "--classifier", str(judge_dir), "--limit", "6", "--batch-size", "4",
            "--inception", str(inception)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["images"] == 6 and metrics["settings"]["limit"] == 6
    assert metrics["add"]["images"] + metrics["remove"]["images"] == 6
    assert metrics["fid"] is not None and metrics["frechet_classifier_distance"] is not None
    assert EvaluationReport.load(out).to_dict() == metrics
    table = (out / "metrics.md").read_text()
    assert "| editing accuracy (judge) | 100.0% | 0.0% |" in table
    assert Image.open(out / "samples.png").size == (4 * SIZE + 4, 6 * (SIZE + 4))


def test_mask_gain_probe_strengthens_the_mask(tmp_path: Path) -> None:
    data = write_test_set(tmp_path / "faces")
    model_dir = tiny_model().save_pretrained(tmp_path / "model")
    script = Path(__file__).resolve().parents[1] / "scripts" / "mask_gain_probe.py"
    args = [sys.executable, str(script), str(model_dir), "--data", str(data), "--limit", "6",
            "--gains", "1", "3"]  # fmt: skip
    run = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith(f"{model_dir}: 6 test images") and len(lines) == 3
    outside = [float(re.search(r"outside the box ([\d.]+)", line)[1]) for line in lines[1:]]
    # the tiny model's mask is about 0.5 everywhere: three times it is 1, a larger change
    assert outside[1] > 1.5 * outside[0] > 0


def test_cli_eval_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    data = write_test_set(tmp_path / "faces")
    model_dir = tiny_model().save_pretrained(tmp_path / "model")
    bad = tmp_path / "inception.pt"
    bad.write_bytes(b"not a network")
    runner = CliRunner()
    base = ["eval", "--weights", str(model_dir), "--data", str(data), "--out",
            str(tmp_path / "eval")]  # fmt: skip
    result = runner.invoke(app, [*base, "--inception", str(bad)])
    assert result.exit_code == 1 and result.output.count("error:") == 1
    assert "not a TorchScript Inception network" in result.output
    assert "Traceback" not in result.output
    nowhere = str(tmp_path / "nowhere")
    result = runner.invoke(app, [*base[:3], "--data", nowhere, "--out", str(tmp_path / "e")])
    assert result.exit_code == 2 and "does not exist" in " ".join(
        result.output.replace("\u2502", " ").split()
    )
    with pytest.raises(EvaluationError, match="no such Inception file"):
        load_inception(tmp_path / "missing.pt")


# ------------------------------------------------------------ the real data and shipped models

CELEBAHQ = default_data_root() / "celebahq128"
SHIPPED_MODEL = Path(__file__).parents[1] / "src" / "sagan_edit" / "weights" / "eyeglasses"


@pytest.mark.skipif(
    not (CELEBAHQ / "attributes.txt").is_file(),
    reason=f"CelebA-HQ-128 not found under {CELEBAHQ} (set SAGAN_DATA)",
)
def test_shipped_model_and_judge_on_real_test_faces() -> None:
    model = SaGAN.from_pretrained(SHIPPED_MODEL, device="cpu")
    test = load_dataset(CELEBAHQ, model.attribute, split="test", image_size=64, limit=96)
    report, _ = evaluate(model, test, num_samples=0)
    assert report.settings["images"] == 96
    for direction in (report.add, report.remove):
        if direction.images:
            assert direction.judge_accuracy_on_inputs >= 0.9
            assert direction.mask_mass_inside_box > 0.8  # the edits stay around the eyes
            assert direction.mean_abs_change_outside < 1.0 < direction.mean_abs_change * 3

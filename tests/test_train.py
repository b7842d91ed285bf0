"""The trainer: paper preset, exact resume, logs, samples, export, bf16, DDP and learning itself."""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from synthetic import SyntheticMarkDataset, write_folder_dataset
from typer.testing import CliRunner

from sagan_edit import SaGAN, SaGANConfig, hardware
from sagan_edit.cli import app
from sagan_edit.losses import (
    attribute_accuracy,
    discriminator_objective,
    generator_objective,
    gradient_penalty,
)
from sagan_edit.train import (
    PAPER_PRESET,
    IndexStream,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    TrainingError,
    WeightAverage,
    find_latest_checkpoint,
    init_distributed,
    leave_process_group,
    run_training,
)

#: A network small enough for many steps per second: 16x16 images, 4 channels, no residual block.
TINY = dict(
    image_size=16,
    base_channels=4,
    num_residual_blocks=0,
    disc_base_channels=4,
    disc_layers=2,
    batch_size=4,
    sample_every=0,
    checkpoint_every=0,
    log_every=1,
    num_samples=4,
)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run this module's tiny networks on one thread (restored after).

    They are so small that torch's per-op overhead dominates, and on a busy 2-core machine a
    second thread mostly waits for a core.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**changes: Any) -> TrainConfig:
    return TrainConfig().replace(**{**TINY, **changes})


def state_tensors(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Every tensor of the trained state: both networks and both optimizers' moments."""
    out = {f"G.{k}": v for k, v in trainer.generator.state_dict().items()}
    out.update({f"D.{k}": v for k, v in trainer.discriminator.state_dict().items()})
    for name, opt in (("gopt", trainer.g_optimizer), ("dopt", trainer.d_optimizer)):
        for i, state in opt.state_dict()["state"].items():
            for key, value in state.items():
                out[f"{name}.{i}.{key}"] = torch.as_tensor(value)
    return out


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


# ------------------------------------------------------------------------------- config


def test_paper_preset_is_the_papers_settings() -> None:
    p = PAPER_PRESET
    assert p == TrainConfig()
    assert (p.g_lr, p.d_lr, p.beta1, p.beta2) == (2e-4, 2e-4, 0.5, 0.999)
    assert (p.batch_size, p.n_critic) == (16, 3)
    assert (p.lambda_gp, p.lambda_rec_dual, p.lambda_rec_id) == (10, 20, 100)
    assert p.lambda_cls == 10  # the paper's Eq. 11 weighs it 1; ours: the training guide
    model = p.model
    assert (model.image_size, model.base_channels, model.num_residual_blocks) == (128, 32, 4)
    assert (model.disc_base_channels, model.disc_layers) == (32, 6)
    assert p.precision == "auto" and p.channels_last is None  # chosen by the hardware
    assert TrainConfig.from_preset("paper") == p


def test_cpu_preset_is_small_and_settings_given_beside_it_win() -> None:
    cpu = TrainConfig.from_preset("cpu", steps=10, attribute="smiling")
    model = cpu.model
    assert (model.image_size, model.base_channels, model.disc_base_channels) == (64, 16, 16)
    assert cpu.steps == 10 and model.attribute == "Smiling"
    assert cpu.positive_fraction == 0.5 and cpu.steps == 10
    assert cpu.lambda_rec_id == 10  # the paper's 100 collapsed the mask on a CPU run
    assert cpu.lambda_cls == 1 and cpu.cls_warmup_steps == 500  # its models' recipe
    assert cpu.ema_decay == 0.995
    with pytest.raises(ValueError, match="unknown preset 'gpu'; choose one of paper, cpu"):
        TrainConfig.from_preset("gpu")


def test_lambda_2_warm_up_rises_linearly_then_stays() -> None:
    config = TrainConfig(lambda_rec_id_start=10, lambda_rec_id_warmup=100)
    values = [config.lambda_rec_id_at(s) for s in (0, 50, 99, 100, 5000)]
    assert values == [10, 55, pytest.approx(99.1), 100, 100]
    assert TrainConfig().lambda_rec_id_at(0) == 100  # no warm-up by default


@pytest.mark.parametrize(
    ("device", "native", "expected"),
    [("cpu", False, "fp32"), ("cpu", True, "bf16"), ("meta", True, "fp32")],
)
def test_auto_precision_picks_bf16_only_where_it_is_native(
    monkeypatch, device: str, native: bool, expected: str
) -> None:
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native)
    assert hardware.resolve_precision("auto", torch.device(device)) == expected
    assert hardware.resolve_precision("fp32", torch.device(device)) == "fp32"
    assert hardware.resolve_precision("bf16", torch.device(device)) == "bf16"


def test_trainer_resolves_auto_precision_for_its_device(monkeypatch, tmp_path: Path) -> None:
    data = SyntheticMarkDataset(4, 16)
    for native, expected in ((False, "fp32"), (True, "bf16")):
        monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda native=native: native)
        trainer = Trainer(tiny_config(precision="auto"), data, tmp_path / expected, quiet=True)
        assert trainer.precision == expected
        assert trainer.model_extra()["training"]["precision"] == expected


def test_config_round_trips_through_json() -> None:
    config = tiny_config(attribute="mouth_slightly_open", datasets=("CelebA",), precision="bf16")
    assert config.model.attribute == "Mouth_Slightly_Open"
    data = json.loads(json.dumps(config.to_dict()))
    assert TrainConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.from_dict({**data, "lr": 1})


def test_a_runs_saved_config_loads_and_takes_resume_options(tmp_path: Path) -> None:
    config = tiny_config(steps=2, lambda_rec_id=50.0)
    config.save(tmp_path)
    assert TrainConfig.load(tmp_path) == config == TrainConfig.load(tmp_path / "train_config.json")
    # options given on resume win; the others keep the saved values
    resumed = TrainConfig.for_resume(tmp_path, steps=5, attribute="eyeglasses", image_size=16)
    assert resumed == config.replace(steps=5)
    with pytest.raises(TrainingError, match=r"image_size=16 \(given 32\)"):
        TrainConfig.for_resume(tmp_path, image_size=32)
    with pytest.raises(TrainingError, match="variant='attention'"):
        TrainConfig.for_resume(tmp_path, variant="none")
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.for_resume(tmp_path, lr=1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no such file"),
        ('{"steps": 3,', "not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        ('{"batch_size": 0}', "batch_size must be >= 1"),
        ('{"lr": 1}', "unknown training settings"),
    ],
)
def test_a_bad_saved_config_is_a_one_line_training_error(
    tmp_path: Path, text: str | None, message: str
) -> None:
    if text is not None:
        (tmp_path / "train_config.json").write_text(text)
    with pytest.raises(TrainingError, match=message) as error:
        TrainConfig.load(tmp_path)
    assert "\n" not in str(error.value) and error.value.__cause__ is None


def test_configs_saved_before_newer_settings_load_with_their_defaults(tmp_path: Path) -> None:
    newer = ("variant", "lambda_sparsity", "lambda_rec_id_start", "lambda_rec_id_warmup")
    old = {k: v for k, v in tiny_config().settings().items() if k not in newer}  # flat, as then
    old.update(precision="fp32", channels_last=False)  # values of the time
    (tmp_path / "train_config.json").write_text(json.dumps(old))
    loaded = TrainConfig.load(tmp_path)
    assert loaded == tiny_config(precision="fp32", channels_last=False)
    assert TrainConfig.for_resume(tmp_path, steps=9).steps == 9


#: A ``train_config.json`` as sagan-edit 0.1.0 wrote it: every setting flat, the networks' too.
FLAT_CONFIG = """{
  "attribute": "Smiling", "image_size": 16, "base_channels": 4, "num_residual_blocks": 0,
  "disc_base_channels": 4, "disc_layers": 2, "variant": "residual", "batch_size": 4,
  "g_lr": 0.0002, "d_lr": 0.0002, "beta1": 0.5, "beta2": 0.999, "n_critic": 3,
  "lambda_gp": 10.0, "lambda_cls": 1.0, "lambda_rec_dual": 20.0, "lambda_rec_id": 10.0,
  "lambda_rec_id_start": null, "lambda_rec_id_warmup": 0, "lambda_sparsity": 1.0,
  "steps": 2, "lr_decay_fraction": 0.5, "flip": true, "positive_fraction": null, "seed": 0,
  "device": "auto", "precision": "fp32", "channels_last": null, "compile": false,
  "num_workers": 0, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
  "keep_checkpoints": 2, "num_samples": 4,
  "face_template": [[0.38, 0.49], [0.62, 0.49], [0.5, 0.67]],
  "data": "faces", "data_format": "folder", "split": "train", "datasets": ["CelebA"],
  "license": "other", "description": null
}"""


def test_a_config_holds_its_networks_settings_as_a_sagan_config() -> None:
    model = SaGANConfig("smiling", image_size=16, base_channels=4, disc_layers=2)
    config = TrainConfig(model=model, steps=2)
    assert config.model == model and config.model is not model  # a copy: the caller's is theirs
    # network settings by flat name go into the model, over a model given beside them
    assert config.replace(image_size=32).model.image_size == 32
    assert config.replace(model=model, base_channels=8).model.base_channels == 8
    assert config.settings()["image_size"] == 16 and config.settings()["steps"] == 2
    assert set(config.settings()) == set(TrainConfig.setting_names())
    assert config.to_dict()["model"] == model.to_dict()  # the model's config.json, nested
    with pytest.raises(TypeError, match="SaGANConfig"):
        TrainConfig(model={"attribute": "Smiling"})  # type: ignore[arg-type]


def test_a_flat_config_of_older_versions_loads(tmp_path: Path) -> None:
    (tmp_path / "train_config.json").write_text(FLAT_CONFIG)
    loaded = TrainConfig.load(tmp_path)
    template = [[0.38, 0.49], [0.62, 0.49], [0.5, 0.67]]
    expected = tiny_config(
        attribute="smiling", variant="residual", lambda_rec_id=10.0, lambda_cls=1.0, steps=2,
        precision="fp32", face_template=template, data="faces", data_format="folder",
        datasets=("CelebA",),
    )  # fmt: skip
    assert loaded == expected and loaded.model.face_template == template
    layers = {
        "residual_norm": "instance",
        "attribute_input": "after_norm",
        "disc_leaky_slope": 0.01,
    }
    newer = {"cls_warmup_steps": 0, "ema_decay": 0.0}  # settings added since, at their defaults
    assert loaded.settings() == json.loads(FLAT_CONFIG) | {"datasets": ("CelebA",)} | layers | newer
    # saved again, it is nested, and reads back the same
    loaded.save(tmp_path)
    assert "model" in json.loads((tmp_path / "train_config.json").read_text())
    assert TrainConfig.load(tmp_path) == loaded
    assert TrainConfig.for_resume(tmp_path, steps=3).steps == 3
    with pytest.raises(TrainingError, match="given 32"):
        TrainConfig.for_resume(tmp_path, image_size=32)


def test_a_checkpoint_with_a_flat_config_resumes(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(8, 16)
    trainer = Trainer(tiny_config(steps=1), data, tmp_path / "run", quiet=True)
    path = trainer.fit(export=False).checkpoint
    assert path is not None
    state = torch.load(path, weights_only=True)
    state["train_config"] = {**tiny_config(steps=1).settings(), "datasets": []}  # as 0.1.0 did
    state["version"] = 1
    torch.save(state, path)
    again = Trainer(tiny_config(steps=2), data, tmp_path / "run", quiet=True)
    again.load_checkpoint(path)
    assert again.step == 1
    other = Trainer(tiny_config(steps=2, base_channels=8), data, tmp_path / "other", quiet=True)
    with pytest.raises(TrainingError, match=r"base_channels=4 \(now 8\)"):
        other.load_checkpoint(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"precision": "fp16"}, "precision"),
        ({"lambda_rec_id_start": -1.0}, "lambda_rec_id_start"),
        ({"lambda_rec_id_warmup": -1}, "lambda_rec_id_warmup"),
        ({"cls_warmup_steps": -1}, "cls_warmup_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"g_lr": 0.0}, "g_lr"),
        ({"lambda_gp": -1.0}, "lambda_gp"),
        ({"image_size": 20}, "multiple of 8"),
        ({"image_size": 24, "disc_layers": 4}, "disc_layers"),
        ({"lr_decay_fraction": 2.0}, "lr_decay_fraction"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"ema_decay": -0.1}, "ema_decay"),
    ],
)
def test_config_rejects_bad_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_config(**changes)


def test_learning_rate_schedule_decays_linearly_over_the_last_half() -> None:
    config = TrainConfig(steps=100)
    scales = [config.learning_rate_scale(s) for s in (0, 49, 50, 75, 99)]
    assert scales == [1.0, 1.0, 1.0, 0.5, pytest.approx(0.02)]
    assert TrainConfig(steps=100, lr_decay_fraction=0).learning_rate_scale(99) == 1.0


# ---------------------------------------------------------------------------------- data


def test_index_stream_is_seeded_restartable_and_split_between_ranks() -> None:
    stream = IndexStream(10, 4, seed=3)
    batches = [b for b, _ in zip(stream, range(10), strict=False)]
    flat = [i for b in batches for i in b]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert flat[:10] != flat[10:20]  # a new permutation each pass
    assert batches == [b for b, _ in zip(IndexStream(10, 4, seed=3), range(10), strict=False)]
    assert batches[0] != next(iter(IndexStream(10, 4, seed=4)))
    # restarting at batch 6 continues exactly
    restarted = IndexStream(10, 4, seed=3, start_batch=6)
    assert [b for b, _ in zip(restarted, range(4), strict=False)] == batches[6:10]
    # two ranks of batch 2 share out the single-process batches of 4
    ranks = [IndexStream(10, 2, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert [ranks[0].batch(k) + ranks[1].batch(k) for k in range(10)] == batches


def test_balanced_index_stream_draws_the_asked_share_of_positives() -> None:
    labels = np.zeros(200)
    labels[:10] = 1  # 5 % positives, like Eyeglasses
    stream = IndexStream(200, 16, seed=1, labels=labels, positive_fraction=0.5)
    batches = [stream.batch(k) for k in range(300)]
    share = np.mean([labels[i] for batch in batches for i in batch])
    assert 0.46 < share < 0.54, share
    assert batches == [IndexStream(200, 16, seed=1, labels=labels, positive_fraction=0.5).batch(k)
                       for k in range(300)]  # fmt: skip
    restarted = IndexStream(200, 16, seed=1, start_batch=7, labels=labels, positive_fraction=0.5)
    assert next(iter(restarted)) == batches[7]
    ranks = [IndexStream(200, 8, seed=1, rank=r, world_size=2, labels=labels,
                         positive_fraction=0.5) for r in (0, 1)]  # fmt: skip
    assert ranks[0].batch(3) + ranks[1].batch(3) == batches[3]
    with pytest.raises(ValueError, match="both positives and negatives"):
        IndexStream(5, 2, seed=0, labels=np.ones(5), positive_fraction=0.5)
    with pytest.raises(ValueError, match="needs the labels"):
        IndexStream(5, 2, seed=0, positive_fraction=0.5)


def test_trainer_balances_batches_and_says_so_in_the_model_card(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(8, 64)
    data.labels[:] = 0
    data.labels[:4] = 1  # 4 of 64
    trainer = Trainer(tiny_config(positive_fraction=0.5, steps=1), data, tmp_path, quiet=True)
    labels = torch.cat([trainer.next_batch()[1] for _ in range(40)])
    assert 0.35 < float(labels.mean()) < 0.65
    assert trainer.model_extra()["training"]["batches"] == "balanced, 50% with the attribute"
    with pytest.raises(ValueError, match="positive_fraction"):
        tiny_config(positive_fraction=1.5)


def test_exported_models_carry_the_face_template_of_their_data() -> None:
    from sagan_edit.align import CELEBA_TEMPLATE, CELEBAHQ_TEMPLATE

    assert tiny_config(data_format="celebahq").model_config().face_template == [
        list(p) for p in CELEBAHQ_TEMPLATE
    ]
    assert tiny_config(data_format="celeba").model_config().face_template == [
        list(p) for p in CELEBA_TEMPLATE
    ]
    assert tiny_config(data_format="folder").model_config().face_template is None
    given = ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6))
    assert tiny_config(face_template=given).model_config().face_template == [
        [0.3, 0.4],
        [0.7, 0.4],
        [0.5, 0.6],
    ]


def test_trainer_accepts_any_dataset_and_flips_deterministically(tmp_path: Path) -> None:
    class Plain(torch.utils.data.Dataset):  # no .batch(), numpy labels
        def __init__(self) -> None:
            self.data = SyntheticMarkDataset(8, 16, seed=5)

        def __len__(self) -> int:
            return len(self.data)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
            return self.data.images[i], np.float32(self.data.labels[i])

    seen = []
    for _ in range(2):
        trainer = Trainer(tiny_config(), Plain(), tmp_path, quiet=True)
        seen.append([trainer.next_batch() for _ in range(3)])
    for (xa, ya), (xb, yb) in zip(*seen, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    images = torch.cat([x for x, _ in seen[0]])
    source = SyntheticMarkDataset(8, 16, seed=5).images
    flipped = [any(torch.equal(im, s.flip(-1)) and not torch.equal(im, s) for s in source)
               for im in images]  # fmt: skip
    assert 0 < sum(flipped) < len(flipped)


# ----------------------------------------------------------------------- resume, checkpoints


def run_steps(out: Path, steps: int, resume: bool = False, **changes: Any) -> Trainer:
    data = SyntheticMarkDataset(12, 16, seed=0)  # 12 images, batch 4: passes end mid-iteration
    trainer = Trainer(tiny_config(steps=steps, **changes), data, out, quiet=True)
    if resume:
        trainer.load_checkpoint(out)
    trainer.fit(export=False)
    return trainer


@pytest.mark.parametrize("num_workers", [0, 1])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path: Path, num_workers: int) -> None:
    straight = run_steps(tmp_path / "straight", 4, num_workers=num_workers)
    run_steps(tmp_path / "resumed", 2, num_workers=num_workers)
    resumed = run_steps(tmp_path / "resumed", 4, resume=True, num_workers=num_workers)
    assert resumed.step == straight.step == 4
    assert resumed.batches == straight.batches == 12
    assert_identical(state_tensors(straight), state_tensors(resumed))
    # the log reads as one run
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed/log.jsonl").open()]
    assert steps == [1, 2, 3, 4]


def d_attribute_accuracy(trainer: Trainer, data: SyntheticMarkDataset) -> float:
    with torch.no_grad():
        return attribute_accuracy(trainer.discriminator(data.images).cls, data.labels).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attribute_warm_up_teaches_d_the_labels_and_leaves_g_alone(
    tmp_path: Path, seed: int
) -> None:
    data = SyntheticMarkDataset(64, 16, seed=seed)
    held_out = SyntheticMarkDataset(64, 16, seed=seed + 100)
    config = tiny_config(steps=0, seed=seed, d_lr=1e-3, cls_warmup_steps=150)
    cold = Trainer(config.replace(cls_warmup_steps=0), data, tmp_path / "cold", quiet=True)
    warm = Trainer(config, data, tmp_path / "warm", quiet=True)
    before = d_attribute_accuracy(warm, held_out)
    warm.fit(export=False)
    assert d_attribute_accuracy(warm, held_out) >= 0.95 > before + 0.2
    assert_identical(
        {k: v for k, v in state_tensors(cold).items() if k.startswith("G.")},
        {k: v for k, v in state_tensors(warm).items() if k.startswith("G.")},
    )
    (record,) = [json.loads(line) for line in (tmp_path / "warm/log.jsonl").open()]
    assert record["step"] == 0 and record["warmup"] and record["D/cls_accuracy"] >= 0.9


def test_a_resumed_run_does_not_warm_up_again(tmp_path: Path) -> None:
    straight = run_steps(tmp_path / "straight", 4, cls_warmup_steps=5)
    run_steps(tmp_path / "resumed", 2, cls_warmup_steps=5)
    resumed = run_steps(tmp_path / "resumed", 4, resume=True, cls_warmup_steps=5)
    assert resumed.batches == straight.batches == 5 + 4 * 3
    assert_identical(state_tensors(straight), state_tensors(resumed))
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed/log.jsonl").open()]
    assert steps == [0, 1, 2, 3, 4]


def test_resume_restores_the_weight_average(tmp_path: Path) -> None:
    straight = run_steps(tmp_path / "straight", 4, ema_decay=0.9)
    run_steps(tmp_path / "resumed", 2, ema_decay=0.9)
    resumed = run_steps(tmp_path / "resumed", 4, resume=True, ema_decay=0.9)
    averages = [t.generator_average for t in (straight, resumed)]
    assert [a.updates for a in averages if a is not None] == [4, 4]
    assert_identical(*(a.state_dict() for a in averages if a is not None))


def test_an_average_turned_on_at_resume_starts_from_the_loaded_generator(tmp_path: Path) -> None:
    run_steps(tmp_path, 2)  # no average kept
    resumed = run_steps(tmp_path, 2, resume=True, ema_decay=0.9)  # nothing left to train
    assert resumed.generator_average is not None
    assert_identical(resumed.generator_average.module.state_dict(), resumed.generator.state_dict())


def test_checkpoint_holds_everything_and_resume_drops_later_log_records(tmp_path: Path) -> None:
    run_steps(tmp_path, 3, checkpoint_every=2, keep_checkpoints=1)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_0000003.pt"]
    state = torch.load(find_latest_checkpoint(tmp_path), weights_only=True)
    assert state["step"] == 3 and state["batches"] == 9
    for key in ("generator", "discriminator", "g_optimizer", "d_optimizer", "train_config"):
        assert state[key]
    (rng,) = state["rng"]
    assert {"python", "numpy", "torch"} <= set(rng)
    # a run resumed from step 2 keeps records 1-2 only, then adds its own
    run_steps(tmp_path / "b", 3, checkpoint_every=2, keep_checkpoints=0)
    (tmp_path / "b/checkpoints/step_0000003.pt").unlink()
    trainer = Trainer(
        tiny_config(steps=3), SyntheticMarkDataset(12, 16), tmp_path / "b", quiet=True
    )
    trainer.load_checkpoint(tmp_path / "b")
    assert trainer.step == 2
    assert [json.loads(x)["step"] for x in (tmp_path / "b/log.jsonl").open()] == [1, 2]


def test_resume_refuses_other_network_settings(tmp_path: Path) -> None:
    run_steps(tmp_path, 1)
    trainer = Trainer(tiny_config(base_channels=8), SyntheticMarkDataset(4, 16), tmp_path / "x")
    with pytest.raises(TrainingError, match="base_channels=4"):
        trainer.load_checkpoint(tmp_path)
    with pytest.raises(TrainingError, match="no checkpoint"):
        trainer.load_checkpoint(tmp_path / "x")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="not a readable checkpoint"):
        trainer.load_checkpoint(tmp_path / "junk.pt")


def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(12, 16)
    trainer = Trainer(tiny_config(steps=2, checkpoint_every=2), data, tmp_path, quiet=True)
    trainer.fit(export=False)
    good = tmp_path / "checkpoints/step_0000002.pt"
    before = good.read_bytes()
    data.images[:] = float("nan")  # every later batch is poisoned
    trainer = Trainer(
        tiny_config(steps=6, checkpoint_every=2, log_every=3), data, tmp_path, quiet=True
    )
    trainer.load_checkpoint(tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"G steps 3 and 3 .*step_0000002\.pt \(step 2\)"):
        trainer.fit()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [good.name]
    assert good.read_bytes() == before
    assert not (tmp_path / "model").exists()


# ---------------------------------------------------------------------------- outputs


def test_fit_writes_logs_samples_checkpoint_and_a_loadable_model(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(8, 16)
    config = tiny_config(steps=2, sample_every=1, datasets=("synthetic",), data="toy bars")
    result = Trainer(config, data, tmp_path, quiet=True).fit()
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2]
    for key in ("D/loss_real", "D/loss_fake", "D/loss_gp", "D/loss_cls", "D/loss",
                "G/loss_fake", "G/loss_cls", "G/loss_rec_dual", "G/loss_rec_id", "G/loss",
                "G/mask_mean", "steps_per_s", "data_s_per_step"):  # fmt: skip
        assert all(math.isfinite(r[key]) for r in records), key
    assert 0 < records[-1]["G/mask_mean"] < 1
    assert TrainConfig.from_dict(json.loads((tmp_path / "train_config.json").read_text())) == config
    # sample grid: 4 images x (input, mask, add, residual, remove, residual), 2-pixel gaps
    grid = Image.open(tmp_path / "samples/step_0000002.png")
    assert grid.size == (6 * 18 + 2, 4 * 18 + 2)
    assert result.checkpoint == tmp_path / "checkpoints/step_0000002.pt"
    # the Hub-ready folder loads and holds the trained generator
    model = SaGAN.from_pretrained(result.model_dir, device="cpu")
    trained = Trainer(config, data, tmp_path / "again", quiet=True)
    trained.load_checkpoint(tmp_path)
    assert_identical(
        {k: v for k, v in model.generator.state_dict().items()},
        trained.generator.state_dict(),
    )
    extra = model.config.extra
    assert set(extra) == {"description", "datasets", "license", "training"}
    assert extra["training"]["generator steps"] == 2
    assert extra["datasets"] == ["synthetic"]
    card = (result.model_dir / "README.md").read_text()
    assert "| generator steps | 2 |" in card and "final G/loss_rec_id" in card


@pytest.mark.parametrize("variant", ["none", "residual"])
def test_baseline_variants_train_export_and_load(tmp_path: Path, variant: str) -> None:
    data = SyntheticMarkDataset(8, 16)
    config = tiny_config(steps=2, variant=variant, lambda_sparsity=3.0)
    result = Trainer(config, data, tmp_path, quiet=True).fit()
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").open()]
    assert all(r["G/mask_mean"] == 1.0 for r in records)  # no attention: every pixel may change
    assert ("G/loss_sparsity" in records[-1]) == (variant == "residual")
    model = SaGAN.from_pretrained(result.model_dir, device="cpu")
    assert model.config.variant == variant and model.generator.san is None
    assert model.config.extra["training"]["generator variant"] == variant
    with pytest.raises(TrainingError, match="variant="):  # an attention run cannot resume it
        Trainer(tiny_config(steps=3), data, tmp_path / "other", quiet=True).load_checkpoint(
            tmp_path
        )


def test_the_layer_alternatives_train_export_and_edit(tmp_path: Path) -> None:
    """BatchNorm blocks, the concatenated attribute and D's slope: trained, exported, loaded."""
    data = SyntheticMarkDataset(8, 16)
    layers = dict(residual_norm="batch", attribute_input="concat", disc_leaky_slope=0.2)
    result = Trainer(tiny_config(steps=2, **layers), data, tmp_path, quiet=True).fit()
    model = SaGAN.from_pretrained(result.model_dir, device="cpu", dtype=torch.float32)  # strict
    assert model.config.residual_norm == "batch" and model.config.attribute_input == "concat"
    trained = Trainer(tiny_config(steps=2, **layers), data, tmp_path / "again", quiet=True)
    trained.load_checkpoint(tmp_path)
    assert trained.discriminator.trunk[1].negative_slope == 0.2
    assert_identical(model.generator.state_dict(), trained.generator.state_dict())  # + BN stats
    with torch.no_grad():  # in eval mode BatchNorm uses its running statistics: no batch mixing
        alone = model.generator(data.images[:1], 1.0).image
        batched = model.generator(data.images[:4], 1.0).image[:1]
    torch.testing.assert_close(alone, batched)
    assert not torch.equal(alone, data.images[:1])


def test_residual_variant_adds_the_weighted_sparsity_penalty(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(8, 16)
    real, label = data.batch(list(range(4)))
    losses = {}
    for weight in (0.0, 2.0):
        trainer = Trainer(tiny_config(variant="residual", lambda_sparsity=weight), data,
                          tmp_path / str(weight), quiet=True)  # fmt: skip
        torch.manual_seed(0)
        losses[weight] = trainer.generator_losses(real, label)
    (loss0, m0), (loss2, m2) = losses[0.0], losses[2.0]
    torch.testing.assert_close(m0["G/loss_sparsity"], m2["G/loss_sparsity"])
    torch.testing.assert_close(loss2 - loss0, 2.0 * m2["G/loss_sparsity"])


def test_bf16_autocast_trains_and_keeps_the_gradient_penalty_in_float32(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(8, 16)
    trainer = Trainer(tiny_config(precision="bf16", steps=2), data, tmp_path, quiet=True)
    result = trainer.fit(export=False)
    assert all(math.isfinite(v) for v in result.metrics.values())
    real, label = trainer.next_batch()
    fake = trainer.generator(real, 1 - label).image.detach()
    torch.manual_seed(7)
    _, metrics = trainer.discriminator_losses(real, label, fake)
    torch.manual_seed(7)  # same interpolation points, computed in plain fp32 eager
    with torch.autocast("cpu", enabled=False):
        expected = gradient_penalty(lambda x: trainer.discriminator(x).src, real, fake)
    assert metrics["D/loss_gp"].dtype == torch.float32
    assert torch.equal(metrics["D/loss_gp"], expected)


def test_channels_last_matches_the_default_layout(tmp_path: Path) -> None:
    a = run_steps(tmp_path / "a", 2, channels_last=False)
    b = run_steps(tmp_path / "b", 2, channels_last=True)
    for key, value in state_tensors(a).items():
        torch.testing.assert_close(state_tensors(b)[key], value, atol=1e-4, rtol=1e-3, msg=key)


@pytest.mark.slow
def test_torch_compile_option_trains(tmp_path: Path) -> None:
    result = run_steps(tmp_path, 2, compile=True)
    assert result.step == 2 and all(math.isfinite(v) for v in result.last_metrics.values())


def test_run_training_needs_data(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no training data"):
        run_training(tiny_config(), tmp_path)


def test_run_training_resumes_and_pushes_the_exported_model(tmp_path: Path, monkeypatch) -> None:
    pushed: dict[str, Any] = {}

    def fake_push(self: SaGAN, repo_id: str, **kwargs: Any) -> str:
        pushed.update(repo=repo_id, state=self.generator.state_dict(), extra=self.config.extra)
        return f"https://hub/{repo_id}/commit/1"

    monkeypatch.setattr(SaGAN, "push_to_hub", fake_push)
    data = SyntheticMarkDataset(8, 16)
    run_training(tiny_config(steps=1), tmp_path, dataset=data, quiet=True)
    with pytest.raises(TrainingError, match="already holds a run"):
        run_training(tiny_config(steps=2), tmp_path, dataset=data, quiet=True)
    result = run_training(
        tiny_config(steps=2), tmp_path, dataset=data, resume=True, push_to_hub="me/toy", quiet=True
    )
    assert result.step == 2 and pushed["repo"] == "me/toy"
    assert pushed["extra"]["training"]["generator steps"] == 2
    exported = SaGAN.from_pretrained(result.model_dir, device="cpu").generator.state_dict()
    assert_identical(exported, pushed["state"])


# The learning check (a short run that must find and edit a synthetic attribute) is
# tests/test_learning.py.


# -------------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, out: str) -> None:
    """One of two gloo processes: compare DDP gradients with hand-averaged ones, then train."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    context, device = init_distributed("cpu")
    finished = False
    try:
        assert context.world_size == world_size and context.rank == rank
        data = SyntheticMarkDataset(16, 16)
        trainer = Trainer(tiny_config(steps=3), data, Path(out) / "run", distributed=context,
                          device=device, quiet=True)  # fmt: skip
        report: dict[str, Any] = {}
        real, label = trainer.next_batch()

        def grads_match(params: list[torch.nn.Parameter], compute_loss) -> float:
            """Max |DDP gradient - average of the ranks' local gradients|, relative."""
            torch.manual_seed(100 + rank)
            loss = compute_loss(ddp=True)
            for p in params:
                p.grad = None
            loss.backward()
            ddp_grads = [p.grad.clone() for p in params]
            torch.manual_seed(100 + rank)
            local = torch.autograd.grad(compute_loss(ddp=False), params)
            worst = 0.0
            for mine, theirs in zip(local, ddp_grads, strict=True):
                averaged = mine.clone()
                dist.all_reduce(averaged)
                averaged /= world_size
                scale = averaged.abs().max().item() + 1e-12
                worst = max(worst, (averaged - theirs).abs().max().item() / scale)
            return worst

        with torch.no_grad():
            fake = trainer.generator(real, 1 - label).image

        # ddp=True: the trainer's own losses (its DDP-wrapped networks); ddp=False: the same
        # objectives computed with the plain modules, one rank's gradients
        def d_loss(ddp: bool) -> torch.Tensor:
            if ddp:
                return trainer.discriminator_losses(real, label, fake)[0]
            plain = trainer.discriminator
            return discriminator_objective(plain, real, label, fake, trainer.config,
                                           precision=trainer.precision)[0]  # fmt: skip

        def g_loss(ddp: bool) -> torch.Tensor:
            if ddp:
                return trainer.generator_losses(real, label)[0]
            return generator_objective(trainer.generator, trainer.discriminator, real, label,
                                       trainer.config, trainer.step,
                                       precision=trainer.precision)[0]  # fmt: skip

        report["d_grad_error"] = grads_match(list(trainer.discriminator.parameters()), d_loss)
        trainer.discriminator.requires_grad_(False)
        report["g_grad_error"] = grads_match(list(trainer.generator.parameters()), g_loss)
        trainer.discriminator.requires_grad_(True)

        trainer.fit(export=False)
        flat = torch.cat([t.flatten().float() for t in state_tensors(trainer).values()])
        gathered = [torch.zeros_like(flat) for _ in range(world_size)]
        dist.all_gather(gathered, flat)
        report["max_rank_difference"] = max((g - flat).abs().max().item() for g in gathered)
        report["batches"] = trainer.batches
        (Path(out) / f"rank{rank}.json").write_text(json.dumps(report))
        finished = True
    finally:
        leave_process_group(context, wait_for_all=finished)  # as run_training ends a run


def test_ddp_two_processes_on_cpu_stay_in_sync(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report["max_rank_difference"] == 0.0
        # the gradient penalty's double backward and G's two forwards are averaged like the rest
        assert report["d_grad_error"] < 1e-5
        assert report["g_grad_error"] < 1e-5
        assert report["batches"] == 1 + 3 * 3
    assert (tmp_path / "run/checkpoints/step_0000003.pt").is_file()
    assert [json.loads(x)["step"] for x in (tmp_path / "run/log.jsonl").open()] == [1, 2, 3]


# -------------------------------------------------------------------------------- CLI


def flat(output: str) -> str:
    """Usage errors come in a rich box, wrapped: join the words back into one line."""
    return " ".join(output.replace("\u2502", " ").split())


TINY_CLI = ["--image-size", "16", "--base-channels", "4", "--residual-blocks", "0",
            "--disc-layers", "2", "--batch-size", "4", "--quiet"]  # fmt: skip


def test_the_defaults_train_help_shows_are_train_configs() -> None:
    # --help cannot import torch, so the command line spells its defaults out; only the options
    # given reach TrainConfig, so these are for show, and must show TrainConfig's own
    import typer.main

    from sagan_edit.cli.train import config_fields

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    defaults = PAPER_PRESET.settings()
    shown = [(param.name, param.default) for param in command.params if param.default is not None]
    assert len(shown) > 20
    for name, default in shown:
        for setting in config_fields(name or ""):
            assert default == defaults[setting], (name, setting)


def test_cli_train_then_resume(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces")
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["train", "--data", str(data), "--attr", "eyeglasses", "--out", str(out), *TINY_CLI]
    result = runner.invoke(app, [*args, "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "model")
    model = SaGAN.from_pretrained(out / "model", device="cpu")
    assert model.attribute == "Eyeglasses" and model.config.image_size == 16
    assert model.config.extra["training"]["data format"] == "folder"
    # the same folder again is refused; --resume continues with the saved settings
    again = runner.invoke(app, [*args, "--steps", "3"])
    assert again.exit_code == 2 and "already holds a run" in flat(again.output)
    resumed = runner.invoke(
        app, ["train", "--out", str(out), "--resume", "--steps", "3", "--lambda-rec-id", "10", "-q"]
    )
    assert resumed.exit_code == 0, resumed.output
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["lambda_rec_id"] == 10 and saved["lambda_rec_dual"] == 20  # given vs kept
    assert saved["model"]["image_size"] == 16
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").open()]
    assert steps[-1] == 3
    assert SaGAN.from_pretrained(out / "model").config.extra["training"]["generator steps"] == 3


def test_cli_preset_gives_the_settings_not_typed(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces")
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--attr", "eyeglasses", "--out", str(out), *TINY_CLI]
    typed = ["--steps", "1", "--ema-decay", "0.9", "--disc-base-channels", "8"]
    result = CliRunner().invoke(app, [*args, "--preset", "cpu", *typed])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["lambda_rec_id"] == 10 and saved["positive_fraction"] == 0.5  # from the preset
    assert saved["model"]["image_size"] == 16 and saved["steps"] == 1  # typed beside it
    assert saved["ema_decay"] == 0.9
    assert saved["model"]["base_channels"] == 4 and saved["model"]["disc_base_channels"] == 8
    card = SaGAN.from_pretrained(out / "model", device="cpu").config.extra["training"]
    assert card["discriminator"].endswith("8 base channels")  # D is not shipped: the card says it
    assert saved["precision"] == "auto"  # TrainConfig's default, not restated by the CLI
    other = ["train", "--data", str(data), "--attr", "eyeglasses", "--out", str(tmp_path / "b")]
    bad = CliRunner().invoke(app, [*other, "--preset", "gpu"])
    assert bad.exit_code == 2 and "unknown preset 'gpu'" in flat(bad.output)


def train_args(data: Path, out: Path, attr: str = "eyeglasses", *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--attr", attr, "--out", str(out), *extra]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data-format", "zip"], "not one of"),
        (["--precision", "fp8"], "precision"),
        (["--image-size", "20"], "multiple of 8"),
        (["--attr", "glasses"], "Eyeglasses"),  # unknown names list the valid ones
        (["--variant", "cycle"], "variant must be one of"),
    ],
)
def test_cli_train_rejects_bad_options(tmp_path: Path, extra: list[str], message: str) -> None:
    data = write_folder_dataset(tmp_path / "faces", 2)
    result = CliRunner().invoke(app, train_args(data, tmp_path / "o", "eyeglasses", *extra))
    assert result.exit_code == 2 and message in flat(result.output)


def test_cli_train_reports_library_errors_in_one_line(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces", 2)  # labels Eyeglasses and Smiling only
    result = CliRunner().invoke(app, train_args(data, tmp_path / "o", "bald", *TINY_CLI))
    assert result.exit_code == 1, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output


def test_a_corrupt_newest_checkpoint_names_the_older_intact_one(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(8, 16)
    trainer = Trainer(tiny_config(steps=2, checkpoint_every=1), data, tmp_path / "run", quiet=True)
    trainer.fit(export=False)
    newest = find_latest_checkpoint(tmp_path / "run")
    assert newest is not None and newest.name == "step_0000002.pt"
    newest.write_bytes(b"cut short")
    again = Trainer(tiny_config(steps=3), data, tmp_path / "run", quiet=True)
    with pytest.raises(TrainingError) as error:
        again.load_checkpoint(tmp_path / "run")
    message = str(error.value)
    assert "\n" not in message and "not a readable checkpoint" in message
    assert "step_0000001.pt" in message and "older checkpoint exists" in message


# ------------------------------------------------------------------------- weight average


def test_weight_average_starts_as_a_copy_then_moves_by_one_minus_decay() -> None:
    layer = torch.nn.Linear(3, 2)
    average = WeightAverage(layer, decay=0.75)
    history = []
    for value in (1.0, 2.0, 4.0):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update(layer)
        history.append(average.module.weight[0, 0].item())
    # the first update copies; then avg <- 0.75 avg + 0.25 w
    assert history == [1.0, 0.75 * 1 + 0.25 * 2, 0.75 * 1.25 + 0.25 * 4]
    assert average.updates == 3
    assert not any(p.requires_grad for p in average.module.parameters())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(layer, decay=1.0)


def test_a_run_with_a_weight_average_exports_the_average(tmp_path: Path) -> None:
    data = SyntheticMarkDataset(8, 16)
    trainer = Trainer(tiny_config(steps=3, ema_decay=0.9), data, tmp_path, quiet=True)
    result = trainer.fit()
    assert trainer.generator_average is not None and trainer.generator_average.updates == 3
    model = SaGAN.from_pretrained(result.model_dir, device="cpu")
    exported = model.generator.state_dict()
    assert_identical(exported, trainer.generator_average.module.state_dict())
    trained = trainer.generator.state_dict()
    assert any(not torch.equal(exported[k], trained[k]) for k in exported)
    assert "decay 0.9" in model.config.extra["training"]["generator weights"]
    # without it, the export is G itself and the card has no such row
    plain = Trainer(tiny_config(steps=3), data, tmp_path / "plain", quiet=True)
    plain_model = SaGAN.from_pretrained(plain.fit().model_dir, device="cpu")
    assert_identical(plain_model.generator.state_dict(), plain.generator.state_dict())
    assert "generator weights" not in plain_model.config.extra["training"]

"""Saving and restoring a Trainer's state: bit-identical resume and validation of the state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.models.transformer import SeededTransformer
from agents.runs.checkpoint import load_model, save_model
from agents.supervised.trainer import TrainConfig, Trainer
from agents.tasks import ColoringTask, RecallTask

FIRST, MORE = 4, 3  # steps before and after the checkpoint; the warm-up ends in the first part
TINY = {"batch_size": 8, "n_seeds": 3, "warmup": 2, "lr": 1e-2, "lr_end": 1e-3}


def config_for(task, variant: str) -> TrainConfig:
    return TrainConfig.for_task(task, **TINY, variant=variant, steps=FIRST + MORE)


def fresh_trainer(task, variant: str, seed: int = 0) -> Trainer:
    generator = torch.Generator().manual_seed(seed)
    model = SeededTransformer(task.model_config(), generator)
    return Trainer(task, model, config_for(task, variant), generator, np.random.default_rng(seed))


def losses_of(trainer: Trainer, steps: int) -> list[float]:
    return [trainer.step()["loss"] for _ in range(steps)]


def resumed_from_file(trainer: Trainer, path, restore: bool = True) -> Trainer:
    """A new trainer on the model of a checkpoint of ``trainer``, with or without its state."""
    tensors, state = trainer.state_dict()
    save_model(path, trainer.model, {"trainer": state}, extra=tensors)
    model, extra, metadata = load_model(path)
    generator, rng = torch.Generator(), np.random.default_rng()
    resumed = Trainer(trainer.task, model, trainer.config, generator, rng)
    if restore:
        resumed.load_state_dict(extra, metadata["trainer"])
    return resumed


def assert_same_parameters(a: Trainer, b: Trainer) -> None:
    pairs = zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True)
    for (name, x), (_, y) in pairs:
        assert torch.equal(x, y), name


@pytest.mark.parametrize(
    ("task", "variant"),
    [
        (RecallTask(n_pairs=4, value_bits=3), "q_r0"),
        (RecallTask(n_pairs=4, value_bits=3), "q_R"),
        (ColoringTask(4), "q_r0"),
        (ColoringTask(4), "q_R"),
    ],
)
def test_a_run_resumed_from_a_checkpoint_file_is_bit_identical(tmp_path, task, variant):
    uninterrupted = fresh_trainer(task, variant)
    expected = losses_of(uninterrupted, FIRST + MORE)

    first = fresh_trainer(task, variant)
    losses = losses_of(first, FIRST)
    resumed = resumed_from_file(first, tmp_path / "model.pt")
    losses += losses_of(resumed, MORE)

    assert losses == expected
    assert resumed.step_count == uninterrupted.step_count == FIRST + MORE
    assert_same_parameters(resumed, uninterrupted)


def test_without_its_state_a_resumed_run_differs(tmp_path):
    """The control of the test above: the model alone does not reproduce the run."""
    task = RecallTask(n_pairs=4, value_bits=3)
    uninterrupted, first = fresh_trainer(task, "q_R"), fresh_trainer(task, "q_R")
    expected = losses_of(uninterrupted, FIRST + MORE)[FIRST:]
    losses_of(first, FIRST)
    assert (
        losses_of(resumed_from_file(first, tmp_path / "model.pt", restore=False), MORE) != expected
    )


def test_the_state_before_the_first_step_restores_a_fresh_start():
    task = RecallTask(n_pairs=4, value_bits=3)
    source, target = fresh_trainer(task, "q_R", seed=0), fresh_trainer(task, "q_R", seed=1)
    target.model.load_state_dict(source.model.state_dict())
    target.load_state_dict(*source.state_dict())
    assert losses_of(target, 2) == losses_of(source, 2)


def test_the_state_is_named_tensors_and_json_metadata():
    trainer = fresh_trainer(RecallTask(n_pairs=4, value_bits=3), "q_r0")
    trainer.step()
    tensors, state = trainer.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["step_count"] == 1 and state["data_rng"]["bit_generator"] == "PCG64"
    assert state["adamw_params"] == [name for name, _ in trainer.model.named_parameters()]
    assert tensors["trainer.generator"].dtype == torch.uint8
    assert torch.equal(tensors["trainer.fixed_policy_seed"], trainer.fixed_policy_seed)
    name = state["adamw_params"][0]
    assert tensors[f"trainer.adamw.{name}.step"].item() == 1
    assert tensors[f"trainer.adamw.{name}.exp_avg"].abs().sum() > 0


def corrupt(tensors: dict, state: dict, field: str, value) -> None:
    """Set ``field`` of the tensors (``trainer.*``) or of the metadata (a dotted path) to
    ``value``, or delete it if ``value`` is ``DELETE``."""
    if field.startswith("trainer."):
        container, key = tensors, field
    else:
        *parents, key = field.split(".")
        container = state
        for parent in parents:
            container = container[parent]
    if value is DELETE:
        del container[key]
    else:
        container[key] = value


DELETE = object()
EMBED = "trainer.adamw.embed.weight"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("trainer.generator", DELETE, ["'trainer.generator'", "missing"]),
        ("trainer.generator", torch.zeros(5056), ["'trainer.generator'", "uint8"]),
        ("trainer.generator", torch.zeros(3, dtype=torch.uint8), ["'trainer.generator'", "(3,)"]),
        ("trainer.fixed_policy_seed", DELETE, ["'trainer.fixed_policy_seed'", "missing"]),
        ("trainer.extra", torch.zeros(1), ["'trainer.extra'", "unexpected"]),
        (f"{EMBED}.exp_avg", torch.zeros(2, 2), [f"'{EMBED}.exp_avg'", "(2, 2)"]),
        (f"{EMBED}.exp_avg_sq", DELETE, [f"'{EMBED}.exp_avg_sq'", "missing"]),
        (f"{EMBED}.step", torch.tensor(9.0), [f"'{EMBED}.step'", "9.0", "step_count=2"]),
        (f"{EMBED}.step", torch.tensor(1.5), [f"'{EMBED}.step'", "1.5"]),
        (f"{EMBED}.step", torch.tensor(1), [f"'{EMBED}.step'", "int64"]),
        ("step_count", 8, ["step_count=8", "[0, 7]"]),
        ("step_count", "2", ["step_count='2'"]),
        ("step_count", True, ["step_count=True"]),
        ("step_count", DELETE, ["trainer metadata", "['step_count']"]),
        ("adamw_params", ["embed.weight", "nope"], ["adamw_params=", "'nope'"]),
        ("adamw_params", "embed.weight", ["adamw_params='embed.weight'"]),
        ("data_rng", [1, 2], ["data_rng", "list"]),
        ("data_rng.bit_generator", "MT19937", ["data_rng.bit_generator='MT19937'", "PCG64"]),
        ("data_rng.state.inc", -3, ["data_rng.state.inc=-3"]),
        ("data_rng.state.inc", 4, ["data_rng.state.inc=4", "even"]),
        ("data_rng.state.state", 2**128, ["data_rng.state.state="]),
        ("data_rng.state.state", 1.5, ["data_rng.state.state=1.5"]),
        ("data_rng.has_uint32", 7, ["data_rng.has_uint32=7"]),
        ("data_rng.uinteger", DELETE, ["data_rng", "['uinteger']"]),
    ],
)
def test_an_invalid_state_is_refused_naming_the_field_and_changes_nothing(field, value, words):
    source, target = (
        fresh_trainer(RecallTask(4, 3), "q_r0"),
        fresh_trainer(RecallTask(4, 3), "q_r0"),
    )
    losses_of(source, 2)
    tensors, state = source.state_dict()
    corrupt(tensors, state, field, value)
    before = target.state_dict()
    with pytest.raises(ValueError) as error:
        target.load_state_dict(tensors, state)
    for word in words:
        assert word in str(error.value)
    after = target.state_dict()
    assert after[1] == before[1] and after[0].keys() == before[0].keys()
    assert all(torch.equal(after[0][name], before[0][name]) for name in before[0])


def test_a_fixed_seed_state_does_not_fit_a_random_seed_trainer():
    source = fresh_trainer(RecallTask(4, 3), "q_r0")
    with pytest.raises(ValueError, match="unexpected tensors.*fixed_policy_seed"):
        fresh_trainer(RecallTask(4, 3), "q_R").load_state_dict(*source.state_dict())


def test_other_extra_tensors_of_a_checkpoint_are_ignored():
    source, target = (
        fresh_trainer(RecallTask(4, 3), "q_R"),
        fresh_trainer(RecallTask(4, 3), "q_R", 1),
    )
    losses_of(source, 1)
    tensors, state = source.state_dict()
    target.load_state_dict({**tensors, "fixed_policy_seed": torch.zeros(1, 8)}, state)
    assert target.step_count == 1
    assert target.optimizer.param_groups[0]["lr"] == source.optimizer.param_groups[0]["lr"]

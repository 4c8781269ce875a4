from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from agents.models.transformer import SeededTransformer
from agents.runs.checkpoint import load_checkpoint, load_model, save_checkpoint, save_model
from agents.tasks import RecallTask

META = {"task": {"name": "recall", "n_pairs": 4, "value_bits": 5}, "step": 12}


@pytest.fixture
def saved(tmp_path):
    task = RecallTask(n_pairs=4)
    model = SeededTransformer(task.model_config(seed_dim=6), torch.Generator().manual_seed(0))
    fixed = model.sample_policy_seed(1, torch.Generator().manual_seed(1))
    path = tmp_path / "run" / "model.pt"
    save_model(path, model, META, {"fixed_policy_seed": fixed})
    return path, model, fixed, task


def test_model_round_trip_restores_outputs_extras_and_metadata(saved):
    path, model, fixed, task = saved
    loaded, extra, metadata = load_model(path, model.config, expect={"task": META["task"]})
    assert loaded.config == model.config
    assert torch.equal(extra["fixed_policy_seed"], fixed)
    assert metadata["step"] == 12 and metadata["model"]["seed_dim"] == 6
    batch = task.sample(np.random.default_rng(0), 5)
    seeds = model.sample_policy_seed(3, torch.Generator().manual_seed(2))
    assert torch.equal(task.logits(loaded, batch, seeds), task.logits(model, batch, seeds))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left


def test_a_mismatched_model_config_is_refused_naming_the_difference(saved):
    path, model, _, _ = saved
    other = dataclasses.replace(model.config, seed_dim=10)
    with pytest.raises(ValueError, match="does not match") as error:
        load_model(path, other)
    assert "'seed_dim': 6" in str(error.value) and "'seed_dim': 10" in str(error.value)


def test_a_mismatched_task_is_refused(saved):
    path, *_ = saved
    with pytest.raises(ValueError, match=r"task: checkpoint has .*'n_pairs': 4.*expected"):
        load_checkpoint(path, {"task": {"name": "recall", "n_pairs": 15, "value_bits": 5}})


def test_corrupt_truncated_and_foreign_files_are_refused(saved, tmp_path):
    path, *_ = saved
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    for bad in (truncated, garbage, tmp_path / "missing.pt"):
        with pytest.raises(ValueError, match="cannot be read"):
            load_model(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="is not a randgym-checkpoint-1 checkpoint"):
        load_checkpoint(foreign)


class Payload:
    """A pickled object: weights_only loading must not execute or accept it."""


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    with open(path, "wb") as file:
        pickle.dump({"format": "randgym-checkpoint-1", "tensors": Payload()}, file, protocol=2)
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(path)


def test_tensors_that_do_not_fit_the_config_are_refused(saved, tmp_path):
    path, *_ = saved
    tensors, metadata = load_checkpoint(path)
    tensors["model.head.weight"] = torch.zeros(3, 3)
    broken = tmp_path / "broken.pt"
    save_checkpoint(broken, tensors, metadata)
    with pytest.raises(ValueError, match="does not fit its model config"):
        load_model(broken)


def test_saving_rejects_non_tensors_and_non_json_metadata(tmp_path):
    with pytest.raises(ValueError, match="tensors"):
        save_checkpoint(tmp_path / "a.pt", {"x": [1, 2]}, {})
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "b.pt", {"x": torch.zeros(1)}, {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_saving_replaces_an_existing_checkpoint_atomically(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"x": torch.zeros(2)}, {"version": 1})
    save_checkpoint(path, {"x": torch.ones(2)}, {"version": 2})
    tensors, metadata = load_checkpoint(path)
    assert torch.equal(tensors["x"], torch.ones(2)) and metadata == {"version": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]

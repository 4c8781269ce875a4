"""Every registered task passes the same checks: what adding a task must satisfy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.metrics import report, score_instances
from agents.models.transformer import SeededTransformer
from agents.runs.checkpoint import load_model, save_model
from agents.supervised.trainer import TrainConfig, Trainer
from agents.tasks import TASKS, SupervisedTask, make_task, task_class, task_for_env

SMALL = {"width": 8, "n_heads": 1, "key_size": 4}  # a tiny model of any preset


def small_task(name: str):
    return make_task(name, **{task_class(name).size_kwarg: 4})


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_task_is_found_by_name_and_env_and_rebuilt_from_its_spec(name):
    task = small_task(name)
    assert task_for_env(task.env_id) is type(task) and task.size == 4
    outdated = task.env_id.rsplit("-v", 1)[0] + "-v0"  # older checkpoints name older versions
    assert task_for_env(outdated) is type(task)
    for malformed in ("", "a b", "x/y/z-v0"):
        with pytest.raises(ValueError, match="has no task"):
            task_for_env(malformed)
    assert make_task(**task.spec).spec == task.spec
    assert task.generator is task.env.generator
    for preset in task.presets:
        config = task.model_config(preset)
        assert config.output_dim >= 1 and config.input_dim >= 1
    with pytest.raises(ValueError, match="preset 'huge' is unknown"):
        task.model_config("huge")
    with pytest.raises(ValueError, match="unknown config fields"):
        task.model_config(depth=3)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_baseline_plays_valid_episodes_in_the_env(name):
    task = small_task(name)
    assert task.baselines(), f"{name} has no classical baseline"
    rng = np.random.default_rng(0)
    for baseline in task.baselines():
        for policy_seed in range(3):
            policy = baseline.make(policy_seed)
            obs, _ = task.env.reset(
                seed=policy_seed, options={"instance": task.generator.sample(rng)}
            )
            done = False
            while not done:
                action = policy(obs)
                assert task.env.action_space.contains(
                    np.asarray(action, dtype=task.env.action_space.dtype)
                )
                obs, _, done, _, _ = task.env.step(action)


SUPERVISED = sorted(name for name, cls in TASKS.items() if issubclass(cls, SupervisedTask))


@pytest.mark.parametrize("name", SUPERVISED)
@pytest.mark.parametrize("variant", ["q_R", "E_r0"])
def test_a_supervised_task_trains_checkpoints_and_evaluates(name, variant, tmp_path):
    task = small_task(name)
    config = TrainConfig.for_task(task, variant=variant, steps=3, batch_size=8, n_seeds=3, warmup=1)
    generator = torch.Generator().manual_seed(0)
    model = SeededTransformer(task.model_config(**SMALL), generator)
    trainer = Trainer(task, model, config, generator, np.random.default_rng(0))
    losses = [trainer.step()["loss"] for _ in range(3)]
    assert all(np.isfinite(losses))

    tensors, state = trainer.state_dict()
    save_model(tmp_path / "model.pt", model, {"task": task.spec, "trainer": state}, tensors)
    loaded, extra, metadata = load_model(tmp_path / "model.pt", model.config)
    assert make_task(**metadata["task"]).spec == task.spec
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    batch = task.evaluation_set(np.random.default_rng(1), quick=True)
    seeds = trainer.fixed_policy_seed
    if seeds is None:
        seeds = loaded.sample_policy_seed(
            5, torch.Generator().manual_seed(2), task.policy_seed_length
        )
    summary = report(score_instances(task, loaded, batch, seeds, majority=(3,)))
    for metric, row in summary.items():
        assert all(np.isfinite(value) for value in row.values()), metric
    assert 0 <= summary["success"]["worst"] <= summary["success"]["average"] <= 1

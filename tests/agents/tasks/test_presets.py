"""Every model preset of every supervised task builds at the task's own size and trains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.models.memory import build_model
from agents.supervised.trainer import TrainConfig, Trainer
from agents.tasks import TASKS, SupervisedTask, make_task

PRESETS = [
    (name, preset)
    for name, cls in sorted(TASKS.items())
    if issubclass(cls, SupervisedTask)
    for preset in cls.presets
]


@pytest.mark.parametrize(("name", "preset"), PRESETS)
def test_a_preset_trains_a_few_steps_at_the_task_size(name, preset):
    task = make_task(name)
    generator = torch.Generator().manual_seed(0)
    model = build_model(task.model_config(preset), generator)
    before = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig.for_task(task, steps=2, batch_size=8, n_seeds=3, warmup=1)
    trainer = Trainer(task, model, config, generator, np.random.default_rng(0))
    logs = [trainer.step() for _ in range(2)]
    assert all(np.isfinite(log["loss"]) and np.isfinite(log["grad_norm"]) for log in logs)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_the_paper_tables_presets_follow_tables_1_and_2():
    recall = make_task("recall", n_pairs=15).model_config("paper_tables")
    assert (recall.width, recall.key_size, recall.n_heads, recall.n_layers) == (15, 5, 1, 2)
    assert recall.width == 5 + recall.seed_dim  # token size d + d_r
    coloring = make_task("coloring", n_vertices=10).model_config("paper_tables")
    assert (coloring.width, coloring.key_size, coloring.n_heads) == (16, 16, 1)
    assert coloring.n_layers == 2
    for config in (recall, coloring):
        assert config.mlp and config.layer_norm and config.positional == "sinusoidal"
        assert config.attention == "linear" and not config.embed_mlp

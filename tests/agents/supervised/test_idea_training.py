from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.models.memory import MemoryConfig, MemoryProcessor
from agents.models.transformer import SeededTransformer
from agents.supervised.idea_training import IdeaConfig, IdeaTrainer, idea_term
from agents.supervised.trainer import TrainConfig, Trainer
from agents.tasks import make_task

TINY = {"steps": 4, "batch_size": 8, "n_seeds": 3, "warmup": 1}


def memory_model(task, rounds: int = 3, **overrides) -> MemoryProcessor:
    config = task.model_config("paper", width=8, key_size=4, **overrides)
    config = MemoryConfig(**dataclasses.asdict(config), memory_rounds=rounds, idea_dim=4)
    return MemoryProcessor(config, torch.Generator().manual_seed(0))


def test_coloring_ideas_are_compared_vertex_by_vertex_after_undoing_the_order():
    # the paper preset has no positions: a reordered cycle, each vertex keeping its seed, gives
    # each vertex the same ideas, so all the score sits on the diagonal
    task = make_task("coloring", n_vertices=6)
    model = memory_model(task)
    batch = task.sample(np.random.default_rng(0), 5)
    views = task.similar_views(batch, np.random.default_rng(1))
    seed = model.sample_policy_seed(2, torch.Generator().manual_seed(0), 6)
    term = idea_term(model, views, seed, temperature=0.1)
    best = idea_term(model, dataclasses.replace(views, partner_tokens=views.tokens,
                     partner_mask=views.mask, order=torch.arange(6)), seed, 0.1)  # fmt: skip
    torch.testing.assert_close(term, best)  # the same as comparing each cycle with itself


@pytest.mark.parametrize(("name", "size"), [("coloring", 5), ("recall", 4)])
def test_the_idea_loss_is_added_to_the_q_norm(name, size):
    task = make_task(name, **{task_size(name): size})
    losses = []
    for weight in (0.0, 1.0):
        trainer = IdeaTrainer(task, memory_model(task, positional="sinusoidal", layer_norm=True),
                              TrainConfig.for_task(task, **TINY), torch.Generator().manual_seed(0),
                              np.random.default_rng(0), IdeaConfig(weight, inputs=4))  # fmt: skip
        losses.append(trainer.step()["loss"])
        stats = [trainer.step() for _ in range(3)]
        assert all(np.isfinite(s["loss"]) and np.isfinite(s["grad_norm"]) for s in stats)
    plain = Trainer(task, memory_model(task, positional="sinusoidal", layer_norm=True),
                    TrainConfig.for_task(task, **TINY), torch.Generator().manual_seed(0),
                    np.random.default_rng(0))  # fmt: skip
    assert plain.step()["loss"] == losses[0] < losses[1]


def task_size(name: str) -> str:
    return {"coloring": "n_vertices", "recall": "n_pairs"}[name]


def test_the_idea_loss_needs_a_memory_and_similar_inputs():
    task = make_task("coloring", n_vertices=5)
    config, plain = TrainConfig.for_task(task, **TINY), SeededTransformer(task.model_config())
    with pytest.raises(ValueError, match="MemoryProcessor"):
        IdeaTrainer(task, plain, config, torch.Generator(), np.random.default_rng(), IdeaConfig(1))
    grid = make_task("grid")
    with pytest.raises(ValueError, match="defines no similar inputs"):
        grid.similar_views({}, np.random.default_rng())
    with pytest.raises(ValueError, match="temperature"):
        IdeaConfig(1.0, temperature=0.0)
    with pytest.raises(ValueError, match="inputs=1"):
        IdeaConfig(1.0, inputs=1)


def test_a_resumed_idea_trainer_takes_the_same_steps():
    task = make_task("recall", n_pairs=4)

    def trainer(model: MemoryProcessor) -> IdeaTrainer:
        return IdeaTrainer(task, model, TrainConfig.for_task(task, **TINY),
                           torch.Generator().manual_seed(0), np.random.default_rng(0),
                           IdeaConfig(0.5, inputs=4))  # fmt: skip

    straight = trainer(memory_model(task, layer_norm=True))
    for _ in range(4):
        straight.step()
    first = trainer(memory_model(task, layer_norm=True))
    for _ in range(2):
        first.step()
    resumed = trainer(memory_model(task, layer_norm=True))
    resumed.model.load_state_dict(first.model.state_dict())
    resumed.load_state_dict(*first.state_dict())
    for _ in range(2):
        resumed.step()
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name

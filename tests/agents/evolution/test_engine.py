"""The batched rollout engine equals playing the gym.Env step by step with the same policy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import randgym  # noqa: F401
from agents.evolution.engine import RolloutEngine
from agents.models.population import flatten_parameters, unflatten_parameters
from agents.models.presets import preset
from agents.models.transformer import SeededTransformer
from agents.tasks.grid.tokenizer import GridTokenizer, GridTransformerPolicy
from randgym.envs.grid_explore.core import GridDynamics

CELLS = np.array([(4, 4), (1, 0), (2, 3)])


def tiny_model(attention: str, tokenizer: GridTokenizer, seed: int = 0) -> SeededTransformer:
    config = preset(
        "grid", input_dim=tokenizer.dim, width=16, n_heads=2, key_size=4, seed_dim=8,
        attention=attention,
    )  # fmt: skip
    return SeededTransformer(config, torch.Generator().manual_seed(seed)).double()


def population(model: SeededTransformer, size: int, scale: float = 0.5) -> torch.Tensor:
    center = flatten_parameters(model)
    noise = torch.randn(size, center.numel(), generator=torch.Generator().manual_seed(1))
    return center + scale * noise.double()


def play_gym_episode(model, tokenizer, policy_seed, cell) -> tuple[float, list]:
    env = gym.make("RandAlg/GridExplore-v0")
    policy = GridTransformerPolicy(model, tokenizer, policy_seed)
    obs, _ = env.reset(options={"instance": cell})
    total, cells, done = 0.0, [], False
    while not done:
        obs, reward, done, _, info = env.step(policy(obs))
        total += reward
        cells.append(tuple(info["cell"]))
    return total, cells


@pytest.mark.parametrize("attention", ["softmax", "linear"])
@pytest.mark.parametrize("visited_map", [False, True])
def test_engine_equals_single_env_play(attention, visited_map):
    tokenizer = GridTokenizer(visited_map=visited_map)
    model = tiny_model(attention, tokenizer)
    params = population(model, 3)
    seeds = model.sample_policy_seed(2, torch.Generator().manual_seed(2))
    engine = RolloutEngine(model, GridDynamics(), tokenizer)
    rollouts = engine.play(params, CELLS, seeds, record=True)
    assert rollouts.returns.shape == (3, len(CELLS), 2)
    for member in range(3):
        member_model = tiny_model(attention, tokenizer)
        member_model.load_state_dict(unflatten_parameters(member_model, params[member]))
        for i, cell in enumerate(CELLS):
            for j in range(2):
                total, cells = play_gym_episode(member_model, tokenizer, seeds[j], cell)
                assert rollouts.returns[member, i, j].item() == total
                steps = len(cells)
                recorded = rollouts.positions[:steps, member, i, j]
                assert [tuple(c) for c in recorded] == cells


def test_returns_vary_across_seeds_and_members():
    tokenizer = GridTokenizer()
    model = tiny_model("softmax", tokenizer)
    engine = RolloutEngine(model, GridDynamics(), tokenizer)
    seeds = model.sample_policy_seed(4, torch.Generator().manual_seed(3))
    returns = engine.play(population(model, 4, 2.0), CELLS, seeds).returns
    assert returns.unique().numel() > 1
    assert (returns <= -2).all() and (returns >= -50).all()


def test_engine_refuses_a_model_that_cannot_play():
    tokenizer = GridTokenizer()
    wrong = SeededTransformer(preset("grid", input_dim=tokenizer.dim + 1, width=8, n_heads=1))
    with pytest.raises(ValueError, match="input_dim"):
        RolloutEngine(wrong, GridDynamics(), tokenizer)
    short = SeededTransformer(preset("grid", input_dim=tokenizer.dim, max_len=10))
    with pytest.raises(ValueError, match="max_len"):
        RolloutEngine(short, GridDynamics(), tokenizer)

"""The batched rollout engine equals playing the gym.Env step by step with the same policy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import randgym  # noqa: F401
from agents.evolution import engine as engine_module
from agents.evolution.decoder import PopulationDecoder, VmapDecoder
from agents.evolution.engine import RolloutEngine
from agents.evolution.run import Evolution, EvolveConfig
from agents.models.memory import MemoryProcessor, build_model
from agents.models.population import flatten_parameters, unflatten_parameters
from agents.models.transformer import SeededTransformer
from agents.tasks.coloring.player import ColoringPlayer
from agents.tasks.coloring.task import ColoringTask
from agents.tasks.grid.player import GridPlayer, GridTransformerPolicy
from agents.tasks.grid.task import GridTask
from agents.tasks.recall.player import RecallPlayer
from agents.tasks.recall.task import RecallTask
from randgym.envs.batching import batch_index

GRID = gym.make("RandAlg/GridExplore-v0").unwrapped
CELLS = np.array([(4, 4), (1, 0), (2, 3)])
TINY = {"width": 16, "n_heads": 2, "key_size": 4}


def tiny_model(
    attention: str, player: GridPlayer, seed: int = 0, mlp_and_norm: bool = True, **memory
) -> SeededTransformer:
    """A small grid model; a MemoryProcessor when `memory` gives memory fields."""
    options = {"visited_map": player.visited_map}
    config = GridTask().model_config(
        player_options=options, seed_dim=8, attention=attention, mlp=mlp_and_norm,
        layer_norm=mlp_and_norm, **TINY, **memory,
    )  # fmt: skip
    return build_model(config, torch.Generator().manual_seed(seed)).double()


def population(model: SeededTransformer, size: int, scale: float = 0.5) -> torch.Tensor:
    center = flatten_parameters(model)
    noise = torch.randn(size, center.numel(), generator=torch.Generator().manual_seed(1))
    return center + scale * noise.to(center.dtype)


def member_model(model: SeededTransformer, params: torch.Tensor) -> SeededTransformer:
    """A copy of `model` with the flat parameters `params`."""
    copy = build_model(model.config).to(params.dtype)
    copy.load_state_dict(unflatten_parameters(copy, params))
    return copy


def play_gym_episode(model, player, policy_seed, cell) -> tuple[float, list]:
    env = gym.make("RandAlg/GridExplore-v0")
    policy = GridTransformerPolicy(model, player, policy_seed)
    obs, _ = env.reset(options={"instance": cell})
    total, cells, done = 0.0, [], False
    while not done:
        obs, reward, done, _, info = env.step(policy(obs))
        total += reward
        cells.append(tuple(info["cell"]))
    return total, cells


@pytest.mark.parametrize("attention", ["softmax", "linear"])
@pytest.mark.parametrize("visited_map", [False, True])
@pytest.mark.parametrize("mlp_and_norm", [True, False])
def test_grid_engine_equals_single_env_play(attention, visited_map, mlp_and_norm):
    player = GridPlayer(GRID, visited_map=visited_map)
    engine = RolloutEngine(
        tiny_model(attention, player, mlp_and_norm=mlp_and_norm), GRID.dynamics, player
    )
    assert engine.decoder is PopulationDecoder
    grid_engine_equals_single_env_play(engine)


@pytest.mark.parametrize(("attention", "rounds"), [("softmax", 2), ("linear", 3)])
def test_grid_engine_with_a_memory_equals_single_env_play(attention, rounds):
    player = GridPlayer(GRID)
    model = tiny_model(attention, player, memory_rounds=rounds, idea_dim=4)
    engine = RolloutEngine(model, GRID.dynamics, player)
    assert isinstance(model, MemoryProcessor) and engine.decoder is VmapDecoder
    grid_engine_equals_single_env_play(engine)


def grid_engine_equals_single_env_play(engine: RolloutEngine) -> None:
    """The engine's grid episodes of 3 members equal `gym.Env` episodes of each member alone."""
    model, player = engine.model, engine.player
    params = population(model, 3)
    seeds = model.sample_policy_seed(2, torch.Generator().manual_seed(2))
    rollouts = engine.play(params, CELLS, seeds, record=True)
    assert rollouts.returns.shape == (3, len(CELLS), 2)
    for member in range(3):
        single = member_model(model, params[member])
        for i, cell in enumerate(CELLS):
            for j in range(2):
                total, cells = play_gym_episode(single, player, seeds[j], cell)
                assert rollouts.returns[member, i, j].item() == total
                recorded = rollouts.positions[: len(cells), member, i, j]
                assert [tuple(c) for c in recorded] == cells


def one_shot_engine_equals_single_env(env, player, config, logits_of) -> torch.Tensor:
    """Engine returns (P, I, M) against `env.step` of each member's own forward, per seed."""
    model = SeededTransformer(config, torch.Generator().manual_seed(0)).double()
    params = population(model, 3, scale=1.0)
    seeds = model.sample_policy_seed(4, torch.Generator().manual_seed(2), length=player.length)
    instances = env.unwrapped.generator.sample_batch(np.random.default_rng(3), 5)
    rollouts = RolloutEngine(model, env.unwrapped.dynamics, player).play(params, instances, seeds)
    assert rollouts.returns.shape == (3, 5, 4)
    for member in range(3):
        single = member_model(model, params[member])
        for i in range(5):
            instance = batch_index(instances, i)
            for j in range(4):
                env.reset(options={"instance": instance})
                with torch.no_grad():
                    action = logits_of(single, instance, seeds[j : j + 1])
                _, reward, terminated, _, _ = env.step(action)
                assert terminated and rollouts.returns[member, i, j].item() == reward
    return rollouts.returns


def test_recall_engine_equals_single_env_play():
    task = RecallTask(n_pairs=4, value_bits=3)

    def logits_of(model, instance, seed):  # the supervised task's own path: forward_last
        batch = task.batch({k: np.asarray(v)[None] for k, v in instance.items()})
        return (task.logits(model, batch, seed)[0, 0] > 0).numpy().astype(np.int8)

    config = task.model_config(**TINY)
    env = gym.make("RandAlg/AssociativeRecall-v1", n_pairs=4, value_bits=3)
    player = RecallPlayer(env.unwrapped)
    returns = one_shot_engine_equals_single_env(env, player, config, logits_of)
    assert returns.unique().numel() == 2  # some right, some wrong answers


@pytest.mark.parametrize("chunk_elements", [1, 2**20])  # a candidate per forward, or all
def test_coloring_engine_equals_single_env_play(chunk_elements, monkeypatch):
    monkeypatch.setattr(engine_module, "ONE_SHOT_ELEMENTS", chunk_elements)
    task = ColoringTask(n_vertices=6)

    def logits_of(model, instance, seed):  # the supervised task's adjacency-masked forward
        batch = task.batch(np.asarray(instance)[None])
        return task.predict(task.logits(model, batch, seed))[0, 0].numpy()

    config = task.model_config(**TINY)
    env = gym.make("RandAlg/GraphColoring-v0", n_vertices=6)
    player = ColoringPlayer(env.unwrapped)
    returns = one_shot_engine_equals_single_env(env, player, config, logits_of)
    assert returns.unique().numel() == 2  # some proper, some improper colorings


def test_one_shot_record_traces_the_actions():
    env = gym.make("RandAlg/GraphColoring-v0", n_vertices=5).unwrapped
    player = ColoringPlayer(env)
    model = SeededTransformer(ColoringTask(5).model_config(**TINY))
    seeds = model.sample_policy_seed(2, torch.Generator().manual_seed(0), length=5)
    graphs = env.generator.sample_batch(np.random.default_rng(0), 3)
    engine = RolloutEngine(model, env.dynamics, player)
    rollouts = engine.play(population(model, 2), graphs, seeds, record=True)
    colorings = rollouts.trace["colorings"]
    assert colorings.shape == (1, 2, 3, 2, 5)
    for member, graph, seed in np.ndindex(2, 3, 2):
        proper = env.dynamics.step(
            env.dynamics.reset(graphs[graph][None]), colorings[0, member, graph, seed][None]
        ).reward[0]
        assert rollouts.returns[member, graph, seed].item() == proper


def test_returns_vary_across_seeds_and_members():
    player = GridPlayer(GRID)
    model = tiny_model("softmax", player)
    engine = RolloutEngine(model, GRID.dynamics, player)
    seeds = model.sample_policy_seed(4, torch.Generator().manual_seed(3))
    returns = engine.play(population(model, 4, 2.0), CELLS, seeds).returns
    assert returns.unique().numel() > 1
    assert (returns <= -2).all() and (returns >= -50).all()


def test_engine_refuses_a_model_that_cannot_play():
    player = GridPlayer(GRID)
    grid = GridTask()
    wrong = SeededTransformer(grid.model_config(input_dim=player.input_dim + 1, width=8, n_heads=1))
    with pytest.raises(ValueError, match="input_dim"):
        RolloutEngine(wrong, GRID.dynamics, player)
    short = SeededTransformer(grid.model_config(max_len=10))
    with pytest.raises(ValueError, match="max_len"):
        RolloutEngine(short, GRID.dynamics, player)
    bits = SeededTransformer(grid.model_config(seed_mode="shared_bits"))
    with pytest.raises(ValueError, match="seed_mode='shared_bits'"):
        RolloutEngine(bits, GRID.dynamics, player)
    recall = SeededTransformer(RecallTask(4).model_config(**TINY))
    coloring = gym.make("RandAlg/GraphColoring-v0", n_vertices=4).unwrapped
    with pytest.raises(ValueError, match="output_dim=3"):
        RolloutEngine(recall, GRID.dynamics, ColoringPlayer(coloring))


def test_compaction_keeps_the_returns():
    player = GridPlayer(GRID, visited_map=False)
    model = tiny_model("softmax", player)
    params = population(model, 4, 2.0)
    seeds = model.sample_policy_seed(3, torch.Generator().manual_seed(4))
    cells = np.array([(c % 5, c // 5) for c in range(1, 25)])
    never = RolloutEngine(model, GRID.dynamics, player, compact_below=0.0)
    often = RolloutEngine(model, GRID.dynamics, player, compact_below=1.0)
    torch.testing.assert_close(
        often.play(params, cells, seeds).returns, never.play(params, cells, seeds).returns
    )


def test_a_memory_model_evolves_on_the_grid():
    model = {"memory_rounds": 2, "seed_pool": 2}
    config = EvolveConfig(model_preset="tiny", model=model, player={"visited_map": False},
                          es={"popsize": 4, "sigma_init": 0.5}, q=1.0, m=2,
                          generations=2)  # fmt: skip
    run = Evolution(config)
    assert isinstance(run.engine.model, MemoryProcessor)
    assert run.engine.decoder is VmapDecoder
    start = run.es.center.clone()
    for _ in range(config.generations):
        metrics = run.step()
    assert all(np.isfinite(value) for value in metrics.values())
    assert not torch.equal(run.es.center, start)

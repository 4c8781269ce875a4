"""The batched rollout engine equals playing the gym.Env step by step with the same policy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import randgym  # noqa: F401
from agents.evolution import engine as engine_module
from agents.evolution.decoder import PopulationDecoder, VmapDecoder
from agents.evolution.engine import RolloutEngine, SlotSplit
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


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_grid_engine_with_the_vmap_decoder_equals_single_env_play(attention):
    player = GridPlayer(GRID)
    model = tiny_model(attention, player)
    engine = RolloutEngine(model, GRID.dynamics, player, decoder=VmapDecoder)
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


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_consecutive_generations_write_over_the_caches_and_play_as_a_fresh_engine(attention):
    player = GridPlayer(GRID)
    model = tiny_model(attention, player)
    engine = RolloutEngine(model, GRID.dynamics, player)
    seeds = model.sample_policy_seed(2, torch.Generator().manual_seed(2))
    engine.play(population(model, 3), CELLS, seeds)
    memory = [t.data_ptr() for t in engine._cache_memory]
    for later in (population(model, 3, scale=1.0), population(model, 2)):  # the same P, then not
        returns = engine.play(later, CELLS, seeds).returns
        fresh = RolloutEngine(model, GRID.dynamics, player).play(later, CELLS, seeds).returns
        assert torch.equal(returns, fresh)
        if len(later) == 3:
            assert memory and [t.data_ptr() for t in engine._cache_memory] == memory


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

    def logits_of(model, instance, seed):  # the adjacency-masked forward, by vertex
        batch = task.batch(np.asarray(instance)[None])
        return task.predict(task.vertex_logits(model, batch, seed))[0, 0].numpy()

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


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_shared_histories_keep_the_returns_and_decode_fewer_slots(attention, monkeypatch):
    player = GridPlayer(GRID, visited_map=False)
    model = tiny_model(attention, player)
    params = population(model, 4, 2.0)
    seeds = model.sample_policy_seed(3, torch.Generator().manual_seed(4))
    cells = np.array([(c % 5, c // 5) for c in range(1, 25)])
    widths = []
    step = PopulationDecoder.step

    def counted(self, tokens):
        widths.append(tokens.shape[1])
        return step(self, tokens)

    monkeypatch.setattr(PopulationDecoder, "step", counted)
    shared = RolloutEngine(model, GRID.dynamics, player).play(params, cells, seeds, record=True)
    shared_widths, widths[:] = widths[:], []
    alone = RolloutEngine(model, GRID.dynamics, player, share_histories=False)
    single = alone.play(params, cells, seeds, record=True)
    torch.testing.assert_close(shared.returns, single.returns, rtol=0, atol=0)
    np.testing.assert_array_equal(shared.positions, single.positions)
    assert shared_widths[0] == 3 and widths[0] == 24 * 3  # one slot per seed, or per episode
    assert sum(shared_widths) < sum(widths) / 2
    assert shared.returns.unique().numel() > 1


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


def split_of(members, slots, keys, width, n_members, compact_below=0.0) -> SlotSplit:
    keys = np.asarray(keys, dtype=np.float32)[:, None]
    return SlotSplit(np.array(members), np.array(slots), keys, width, n_members, compact_below)


def test_a_slot_splits_where_the_tokens_differ_and_forks_take_free_slots():
    # member 0: slot 0 reads tokens 5 and 7 (a fork), slot 1 reads 5; member 1: one history
    split = split_of([0, 0, 0, 1, 1], [0, 0, 1, 0, 0], [5, 7, 5, 3, 3], width=2, n_members=3)
    assert split.width == 3  # the fork grows W
    assert split.slots.tolist() == [0, 2, 1, 0, 0]
    source, target = split.copies
    assert source[0].tolist() == [0] and target[0].tolist() == [2]
    assert (source[1:] == target[1:]).all()  # members without forks copy a slot onto itself
    tokens = torch.tensor([[5.0], [7.0], [5.0], [3.0], [3.0]])
    slot_tokens = split.slot_tokens(tokens)  # member 2 plays no more: zeros
    assert slot_tokens.shape == (3, 3, 1)
    assert slot_tokens[0, :, 0].tolist() == [5, 5, 7] and slot_tokens[1, 0, 0] == 3


def test_a_fork_reuses_a_finished_slot_and_nothing_moves_without_a_split():
    split = split_of([0, 0, 0], [1, 1, 2], [4, 6, 4], width=3, n_members=1)
    assert split.width == 3 and split.slots.tolist() == [1, 0, 2]  # slot 0 had finished
    assert split.copies[0].tolist() == [[1]] and split.copies[1].tolist() == [[0]]
    still = split_of([0, 0], [1, 2], [4, 4], width=3, n_members=1)
    assert still.copies is None and still.slots.tolist() == [1, 2] and still.width == 3


def test_few_histories_move_into_the_first_slots():
    split = split_of([0, 1, 1], [3, 0, 2], [1, 1, 1], width=4, n_members=2, compact_below=0.75)
    assert split.width == 2
    assert split.slots.tolist() == [0, 0, 1]
    source, target = split.copies
    assert (source[0, 0], target[0, 0]) == (3, 0) and (source[1, 0], target[1, 0]) == (2, 1)


def test_keys_that_project_alike_are_still_told_apart(monkeypatch):
    monkeypatch.setattr(engine_module, "_projection", lambda size: np.zeros(size))
    split = split_of([0, 0, 0], [0, 0, 0], [5, 7, 5], width=1, n_members=1)
    assert split.width == 2 and split.slots.tolist() in ([0, 1, 0], [1, 0, 1])

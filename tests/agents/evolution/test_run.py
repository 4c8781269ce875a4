"""ES training on any env: fitness, instances, configuration errors, checkpoints and resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from agents.evolution.evaluators import LocalEvaluator
from agents.evolution.run import Evolution, EvolveConfig, fitness_from_returns, mixed_fitness
from agents.models.memory import MemoryProcessor

TINY_MODEL = {"width": 8, "n_heads": 1, "key_size": 4, "seed_dim": 4, "mlp": False}
RECALL = {"env_id": "RandAlg/AssociativeRecall-v1", "env_kwargs": {"n_pairs": 4, "value_bits": 2}}
COLORING = {"env_id": "RandAlg/GraphColoring-v0", "env_kwargs": {"n_vertices": 5}}


def tiny(**overrides) -> EvolveConfig:
    fields = {"model": TINY_MODEL, "es": {"popsize": 6}, "m": 2, "generations": 4}
    return EvolveConfig(**{**fields, **overrides})


class RecordingEvaluator(LocalEvaluator):
    """A local evaluator that keeps what it was asked and what it answered."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.calls = []

    def returns(self, candidates, instances, policy_seeds):
        returns = super().returns(candidates, instances, policy_seeds)
        self.calls.append((instances, returns))
        return returns


def test_fitness_is_minus_the_q_norm_of_mean_steps():
    returns = torch.tensor(
        [
            [[-10.0, -20.0], [-30.0, -30.0], [-4.0, -6.0]],
            [[-2.0, -2.0], [-2.0, -2.0], [-50.0, -50.0]],
        ]
    )  # (P=2, I=3, M=2): mean steps per cell 15, 30, 5 and 2, 2, 50
    torch.testing.assert_close(fitness_from_returns(returns, 1.0), torch.tensor([-50 / 3, -18.0]))
    torch.testing.assert_close(
        fitness_from_returns(returns, math.inf), torch.tensor([-30.0, -50.0])
    )
    two = fitness_from_returns(returns, 2.0)
    expected = -torch.tensor([(15**2 + 30**2 + 5**2) / 3, (4 + 4 + 2500) / 3]).sqrt()
    torch.testing.assert_close(two, expected)


@pytest.mark.parametrize("q", [1.0, 8.0, math.inf])
def test_no_candidates_have_no_fitness(q):
    assert fitness_from_returns(torch.zeros(0, 3, 2), q).shape == (0,)


def test_fitness_of_0_1_rewards_is_in_return_units():
    returns = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]]])  # (2, 2, 2)
    # losses 1 - return: seed-averaged 0.5, 0 and 1, 0
    torch.testing.assert_close(fitness_from_returns(returns, math.inf, 1.0), torch.tensor([0.5, 0]))
    torch.testing.assert_close(fitness_from_returns(returns, 1.0, 1.0), torch.tensor([0.75, 0.5]))
    two = fitness_from_returns(returns, 2.0, 1.0)
    torch.testing.assert_close(two, 1 - torch.tensor([0.125, 0.5]).sqrt())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"q": 0.5}, "q=0.5"),
        ({"m": 0}, "m=0"),
        ({"instances": 0}, "instances=0"),
        ({"instances": True}, "instances=True"),
        ({"generations": 0}, "generations=0"),
        ({"algorithm": "sgd"}, "algorithm='sgd'"),
        ({"q_schedule": ((40, 0.9),)}, "q_schedule="),
        ({"q_schedule": ((0, 1.0),)}, "q_schedule="),
        ({"q_schedule": ((40, 1.0), (40, 8.0))}, "q_schedule="),
        ({"q_schedule": ((40.0, 1.0),)}, "q_schedule="),
        ({"q_schedule": (40, 1.0)}, "q_schedule="),
        ({"mix_seeds": 1}, "mix_seeds=1"),
        ({"mix_seeds": True, "q": 8.0}, "set q=inf"),
    ],
)
def test_bad_configs_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny(**overrides)


def test_envs_and_options_that_cannot_be_played_are_refused():
    with pytest.raises(ValueError, match="env id 'CartPole-v1' is refused"):
        Evolution(tiny(env_id="CartPole-v1"))
    with pytest.raises(ValueError, match="env id 'shutil:rmtree' is refused"):
        Evolution(tiny(env_id="shutil:rmtree"))
    with pytest.raises(ValueError, match="'RandAlg/Nowhere-v0' has no task"):
        Evolution(tiny(env_id="RandAlg/Nowhere-v0"))
    with pytest.raises(ValueError, match="set instances=K"):
        Evolution(tiny(env_id="RandAlg/AssociativeRecall-v1"))
    with pytest.raises(ValueError, match="181,440 instances"):
        Evolution(tiny(env_id="RandAlg/GraphColoring-v0"))
    with pytest.raises(ValueError, match="visited_map=1"):
        Evolution(tiny(player={"visited_map": 1}))
    with pytest.raises(ValueError, match="player options .* invalid for coloring"):
        Evolution(tiny(**COLORING, player={"visited_map": True}))


def test_odd_population_is_refused_for_pepg():
    with pytest.raises(ValueError, match="popsize=7"):
        Evolution(tiny(es={"popsize": 7}))


def test_the_q_schedule_sets_each_generations_norm():
    run = Evolution(tiny(q_schedule=((1, 2.0), (3, 8.0)), q=math.inf))
    run.evaluator = evaluator = RecordingEvaluator(run.engine)
    norms = []
    for _ in range(4):
        norms.append(run.current_q())
        metrics = run.step()
        expected = fitness_from_returns(evaluator.calls[-1][1], norms[-1])
        assert metrics["fitness_mean"] == pytest.approx(expected.mean().item())
    assert norms == [2.0, 8.0, 8.0, math.inf]


def test_the_q_schedule_survives_the_json_round_trip():
    config = tiny(q_schedule=[[3, math.inf], [5, 2]], q=1.0)  # lists, as JSON gives them
    assert config.q_schedule == ((3, math.inf), (5, 2.0))
    assert EvolveConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_runs_saved_with_a_warmup_stage_load_as_a_schedule():
    saved = {k: v for k, v in tiny().to_json().items() if k != "q_schedule"}
    assert EvolveConfig.from_json(saved) == tiny()
    warmup = {**saved, "warmup_generations": 40, "warmup_q": 1.0}
    assert EvolveConfig.from_json(warmup) == tiny(q_schedule=((40, 1.0),))
    with pytest.raises(ValueError, match="q_schedule="):
        EvolveConfig.from_json({**saved, "q_schedule": [[1, "hard"]]})


def test_small_instance_spaces_are_played_whole():
    run = Evolution(tiny(**COLORING))
    assert run.evaluation_instances.shape == (12, 5, 5)  # the (5 - 1)! / 2 cycles on 5 vertices
    assert run.generation_instances() is run.evaluation_instances


def test_fitness_is_the_q_norm_over_fresh_instances_per_generation():
    run = Evolution(tiny(**RECALL, instances=16, q=2.0))
    run.evaluator = evaluator = RecordingEvaluator(run.engine)
    metrics = [run.step() for _ in range(2)]
    (first, returns), (second, _) = evaluator.calls
    assert first["values"].shape == (16, 4, 2) and first["query"].shape == (16,)
    assert not np.array_equal(first["values"], second["values"])  # fresh every generation
    assert returns.shape == (6, 16, 2) and set(returns.unique().tolist()) <= {0.0, 1.0}
    fitness = fitness_from_returns(returns, 2.0, 1.0)
    assert metrics[0]["fitness_max"] == pytest.approx(fitness.max().item())
    assert metrics[0]["fitness_mean"] == pytest.approx(fitness.mean().item())


@pytest.mark.parametrize(
    ("env", "n_instances"),
    [({}, 24), ({**RECALL, "instances": 8}, 8), ({**COLORING, "instances": 8}, 8), (COLORING, 12)],
)
def test_a_few_generations_train_on_every_env(env, n_instances):
    es = {"popsize": 6, "sigma_init": 0.5}  # an initial model colors every vertex alike
    run = Evolution(tiny(**env, q=1.0, es=es))  # ERM: the worst case starts out flat
    start = run.es.center.clone()
    for _ in range(2):
        metrics = run.step()
    assert all(math.isfinite(value) for value in metrics.values())
    assert not torch.equal(run.es.center, start)
    assert run.center_returns(3).shape == (n_instances, 3)


SAMPLED_COLORING = {**COLORING, "instances": 8, "q": 1.0, "es": {"popsize": 6, "sigma_init": 0.5}}


@pytest.mark.parametrize("env", [{}, SAMPLED_COLORING])
def test_generations_are_deterministic_and_resume_exactly(env, tmp_path):
    config = tiny(**env)
    straight = Evolution(config)
    for _ in range(4):
        straight.step()
    first = Evolution(config)
    for _ in range(2):
        first.step()
    first.save(tmp_path / "checkpoint.pt", 2)
    resumed, generation = Evolution.load(tmp_path / "checkpoint.pt")
    assert generation == 2 and resumed.config == config
    for _ in range(2):
        resumed.step()
    torch.testing.assert_close(resumed.es.center, straight.es.center, rtol=0, atol=0)
    assert torch.equal(resumed.policy_seeds(), straight.policy_seeds())
    assert np.array_equal(resumed.generation_instances(), straight.generation_instances())


def test_corrupt_checkpoint_is_refused(tmp_path):
    run = Evolution(tiny())
    run.step()
    run.save(tmp_path / "checkpoint.pt", 1)
    data = (tmp_path / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        Evolution.load(tmp_path / "checkpoint.pt")


def test_fixed_seed_runs_use_one_seed_for_every_generation():
    run = Evolution(tiny(fixed_seed=True))
    assert torch.equal(run.policy_seeds(), run.policy_seeds())
    assert run.policy_seeds().shape[0] == 1
    assert run.center_returns(50).shape == (24, 1)


def test_a_seed_pool_is_played_whole_in_training_and_evaluation():
    run = Evolution(tiny(model={**TINY_MODEL, "seed_pool": 3}, m=3))
    pool = run.model.policy_seed_pool
    assert torch.equal(run.policy_seeds(), pool) and torch.equal(run.evaluation_seeds(50), pool)
    assert run.center_returns(50).shape == (24, 3)
    with pytest.raises(ValueError, match="set m=3"):
        Evolution(tiny(model={**TINY_MODEL, "seed_pool": 3}, m=2))


def test_mixed_fitness_is_the_worst_case_of_the_best_mixture_by_hand():
    returns = torch.tensor(
        [
            [[-1.0, -3.0, -2.5], [-3.0, -1.0, -2.5]],  # two complementary seeds and a safe one
            [[-4.0, -4.0, -4.0], [-1.0, -1.0, -1.0]],  # every seed alike
        ]
    )  # (P=2, I=2, M=3)
    torch.testing.assert_close(mixed_fitness(returns), torch.tensor([-2.0, -4.0]))
    uniform = fitness_from_returns(returns, math.inf)
    assert (mixed_fitness(returns) >= uniform).all()


class ComplementarySeeds:
    """An evaluator whose every candidate has two complementary seeds and a safe one."""

    def returns(self, candidates, instances, policy_seeds):
        returns = torch.full((len(candidates), 24, 3), -10.0)
        returns[:, :12, 0] = returns[:, 12:, 1] = -30.0
        returns[:, :, 2] = -25.0
        return returns  # uniform draw: worst cell -65 / 3; a coin flip of seeds 0 and 1: -20


def test_mix_seeds_ranks_by_the_mixture_once_q_is_inf():
    pool = {"model": {**TINY_MODEL, "seed_pool": 3}, "m": 3}
    run = Evolution(tiny(**pool, q_schedule=((2, 1.0),), q=math.inf, mix_seeds=True))
    run.evaluator = ComplementarySeeds()
    metrics = [run.step() for _ in range(4)]
    expected = [-65 / 3] * 2 + [-20.0] * 2  # q = 1 (the uniform draw), then the mixture
    assert [m["fitness_mean"] for m in metrics] == pytest.approx(expected)
    assert [m["worst_case_best"] for m in metrics] == pytest.approx(expected)
    with pytest.raises(ValueError, match="seed_pool"):
        Evolution(tiny(mix_seeds=True))  # fresh seeds: no fixed seeds to weigh
    with pytest.raises(ValueError, match="fixed_seed=False"):
        Evolution(tiny(**pool, fixed_seed=True, mix_seeds=True))


def test_pepg_improves_the_average_return():
    es = {"popsize": 16, "sigma_init": 0.1, "center_lr": 0.05}
    run = Evolution(tiny(es=es, q=1.0, m=2))
    before = run.center_returns(8).mean().item()
    for _ in range(30):
        run.step()
    assert run.center_returns(8).mean().item() > before + 4.0


@pytest.mark.parametrize("algorithm", ["cma", "openes"])
def test_other_algorithms_run_and_resume(algorithm, tmp_path):
    run = Evolution(tiny(algorithm=algorithm))
    run.step()
    run.save(tmp_path / "checkpoint.pt", 1)
    resumed, _ = Evolution.load(tmp_path / "checkpoint.pt")
    run.step()
    resumed.step()
    torch.testing.assert_close(resumed.es.center, run.es.center, rtol=0, atol=0)


def test_a_memory_model_evolves_on_one_shot_envs(tmp_path):
    config = tiny(**SAMPLED_COLORING, model={**TINY_MODEL, "memory_rounds": 2})
    run = Evolution(config)
    assert isinstance(run.engine.model, MemoryProcessor)
    run.step()
    run.save(tmp_path / "checkpoint.pt", 1)
    resumed, _ = Evolution.load(tmp_path / "checkpoint.pt")
    assert isinstance(resumed.engine.model, MemoryProcessor)
    torch.testing.assert_close(resumed.es.center, run.es.center, rtol=0, atol=0)

"""ES training on the grid world: fitness, configuration errors, checkpoints and resume."""

from __future__ import annotations

import math

import pytest
import torch

from agents.evolution.run import EvolveConfig, GridEvolution, fitness_from_returns

TINY_MODEL = {"width": 8, "n_heads": 1, "key_size": 4, "seed_dim": 4, "mlp": False}


def tiny(**overrides) -> EvolveConfig:
    fields = {"model": TINY_MODEL, "es": {"popsize": 6}, "m": 2, "generations": 4}
    return EvolveConfig(**{**fields, **overrides})


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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"q": 0.5}, "q=0.5"),
        ({"m": 0}, "m=0"),
        ({"generations": 0}, "generations=0"),
        ({"algorithm": "sgd"}, "algorithm='sgd'"),
    ],
)
def test_bad_configs_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny(**overrides)


def test_envs_the_policy_cannot_play_are_refused():
    with pytest.raises(ValueError, match="GridExplore"):
        GridEvolution(tiny(env_id="RandAlg/AssociativeRecall-v0"))
    with pytest.raises(ValueError, match="cannot be made"):
        GridEvolution(tiny(env_id="RandAlg/Nowhere-v0"))
    with pytest.raises(ValueError, match="non-negative losses"):
        GridEvolution(tiny(env_kwargs={"find_reward": 1.0}))


def test_odd_population_is_refused_for_pepg():
    with pytest.raises(ValueError, match="popsize=7"):
        GridEvolution(tiny(es={"popsize": 7}))


def test_generations_are_deterministic_and_resume_exactly(tmp_path):
    straight = GridEvolution(tiny())
    for _ in range(4):
        straight.step()
    first = GridEvolution(tiny())
    for _ in range(2):
        first.step()
    first.save(tmp_path / "checkpoint.pt", 2)
    resumed, generation = GridEvolution.load(tmp_path / "checkpoint.pt")
    assert generation == 2 and resumed.config == tiny()
    for _ in range(2):
        resumed.step()
    torch.testing.assert_close(resumed.es.center, straight.es.center, rtol=0, atol=0)
    assert torch.equal(resumed.policy_seeds(), straight.policy_seeds())


def test_corrupt_checkpoint_is_refused(tmp_path):
    run = GridEvolution(tiny())
    run.step()
    run.save(tmp_path / "checkpoint.pt", 1)
    data = (tmp_path / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        GridEvolution.load(tmp_path / "checkpoint.pt")


def test_fixed_seed_runs_use_one_seed_for_every_generation():
    run = GridEvolution(tiny(fixed_seed=True))
    assert torch.equal(run.policy_seeds(), run.policy_seeds())
    assert run.policy_seeds().shape[0] == 1
    assert run.center_returns(50).shape == (24, 1)


def test_pepg_improves_the_average_return():
    es = {"popsize": 16, "sigma_init": 0.1, "center_lr": 0.05}
    run = GridEvolution(tiny(es=es, q=1.0, m=2))
    before = run.center_returns(8).mean().item()
    for _ in range(30):
        run.step()
    assert run.center_returns(8).mean().item() > before + 4.0


@pytest.mark.parametrize("algorithm", ["cma", "openes"])
def test_other_algorithms_run_and_resume(algorithm, tmp_path):
    run = GridEvolution(tiny(algorithm=algorithm))
    run.step()
    run.save(tmp_path / "checkpoint.pt", 1)
    resumed, _ = GridEvolution.load(tmp_path / "checkpoint.pt")
    run.step()
    resumed.step()
    torch.testing.assert_close(resumed.es.center, run.es.center, rtol=0, atol=0)

"""The shared ask/tell contract, run against every algorithm; centered ranks and Adam."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from agents.evolution.es import (
    CMAES,
    PEPG,
    Adam,
    CMAESConfig,
    OpenES,
    OpenESConfig,
    PEPGConfig,
    centered_ranks,
)

DIM = 6


def sphere(candidates: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Fitness to maximize: minus the squared distance to ``target`` (default: 0.5, 0.6, ...)."""
    if target is None:
        target = 0.5 + 0.1 * torch.arange(candidates.shape[1])
    return -(candidates - target).square().sum(dim=1)


def run(es, generations: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Run ``generations`` ask/tell steps on the sphere; the (candidates, center) of each."""
    trace = []
    for _ in range(generations):
        candidates = es.ask()
        es.tell(sphere(candidates))
        trace.append((candidates.clone(), es.center))
    return trace


MAKERS = {
    "pepg": lambda seed, dim: PEPG(
        torch.zeros(dim), PEPGConfig(popsize=8, sigma_init=0.1, std_lr=0.2), seed=seed
    ),
    "open_es": lambda seed, dim: OpenES(
        torch.zeros(dim), OpenESConfig(popsize=8, center_lr=0.05), seed=seed
    ),
    "cma_csa": lambda seed, dim: CMAES(
        torch.zeros(dim), CMAESConfig(popsize=8, sigma_init=0.2), seed=seed
    ),
    # pycma switches to TPA step-size adaptation from dimension 300 on
    "cma_tpa": lambda seed, dim: CMAES(
        torch.zeros(300), CMAESConfig(popsize=8, sigma_init=0.2), seed=seed
    ),
}


def make(name: str, seed: int = 0, dim: int = DIM):
    return MAKERS[name](seed, dim)


# --- centered ranks --------------------------------------------------------------------------


def test_centered_ranks_of_distinct_values():
    ranks = centered_ranks(torch.tensor([3.0, -1.0, 10.0, 0.0, 2.0]))
    assert ranks.tolist() == pytest.approx([0.25, -0.5, 0.5, -0.25, 0.0])
    assert ranks.dtype == torch.float32


def test_centered_ranks_average_ties():
    ranks = centered_ranks(torch.tensor([1.0, 5.0, 1.0, 1.0, 7.0]))
    assert ranks.tolist() == pytest.approx([-0.25, 0.25, -0.25, -0.25, 0.5])
    assert centered_ranks(torch.full((4,), 2.0)).tolist() == [0.0] * 4
    assert centered_ranks(torch.tensor([4.0])).tolist() == [0.0]


@given(st.lists(st.integers(-3, 3), min_size=2, max_size=20))
def test_centered_ranks_match_a_reference(values):
    fitness = torch.tensor(values, dtype=torch.float64)
    n = len(values)
    reference = [
        (sum(v < x for v in values) + (sum(v == x for v in values) - 1) / 2) / (n - 1) - 0.5
        for x in values
    ]
    ranks = centered_ranks(fitness)
    assert ranks.tolist() == pytest.approx(reference, abs=1e-6)
    assert ranks.sum().item() == pytest.approx(0.0, abs=1e-5)


# --- Adam ------------------------------------------------------------------------------------


def test_adam_first_step_is_lr_times_sign_and_decay_is_decoupled():
    params = torch.tensor([1.0, -1.0, 2.0])
    grad = torch.tensor([0.5, -3.0, 0.0])
    adam = Adam(lr=0.1, weight_decay=0.5)
    state = adam.init(params)
    adam.ascend(params, grad, state)
    # decay: x * (1 - 0.1 * 0.5); then m_hat = g, v_hat = g^2: step 0.1 * g / (|g| + 1e-8)
    expected = [0.95 + 0.1 * 0.5 / (0.5 + 1e-8), -0.95 - 0.1 * 3 / (3 + 1e-8), 1.9]
    assert params.tolist() == pytest.approx(expected, abs=1e-7)
    assert state.step == 1
    assert state.m.tolist() == pytest.approx([0.05, -0.3, 0.0])


# --- the ask/tell contract -------------------------------------------------------------------


@pytest.mark.parametrize("name", MAKERS)
def test_ask_shape_dtype_and_center(name):
    es = make(name)
    candidates = es.ask()
    assert candidates.shape == (es.popsize, es.dim)
    assert candidates.dtype == torch.float32
    assert es.center.shape == es.sigma.shape == (es.dim,)
    assert torch.equal(es.center, torch.zeros(es.dim))


@pytest.mark.parametrize("name", MAKERS)
def test_protocol_violations_raise(name):
    es = make(name)
    with pytest.raises(RuntimeError, match="tell"):
        es.tell(torch.zeros(es.popsize))
    es.ask()
    with pytest.raises(RuntimeError, match="ask"):
        es.ask()
    with pytest.raises(RuntimeError, match="state_dict"):
        es.state_dict()


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize(
    ("fitness", "match"),
    [
        (lambda p: torch.zeros(p + 1), "shape"),
        (lambda p: torch.zeros(p, 1), "shape"),
        (lambda p: torch.tensor([math.nan] + [0.0] * (p - 1)), "non-finite"),
        (lambda p: torch.tensor([0.0] * (p - 1) + [math.inf]), "non-finite"),
    ],
)
def test_bad_fitness_raises_and_keeps_the_generation_pending(name, fitness, match):
    es = make(name)
    es.ask()
    with pytest.raises(ValueError, match=match):
        es.tell(fitness(es.popsize))
    es.tell(torch.zeros(es.popsize))  # the same candidates can still be told
    assert es.generation == 1


@pytest.mark.parametrize("name", MAKERS)
def test_fitness_may_be_an_array_or_a_list(name):
    es = make(name)
    candidates = es.ask()
    es.tell(sphere(candidates).numpy())
    es.ask()
    es.tell([0.0] * es.popsize)
    assert es.generation == 2


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed="):
        PEPG(torch.zeros(3), seed=seed)


@pytest.mark.parametrize("x0", [torch.zeros(2, 3), torch.zeros(0), torch.tensor([0.0, math.nan])])
def test_bad_x0_raises(x0):
    with pytest.raises(ValueError, match="x0"):
        CMAES(x0, seed=0)


@pytest.mark.parametrize("name", MAKERS)
def test_same_seed_same_asks_other_seed_other_asks(name):
    first, second, other = run(make(name, 3), 4), run(make(name, 3), 4), run(make(name, 4), 1)
    for (x1, c1), (x2, c2) in zip(first, second, strict=True):
        assert torch.equal(x1, x2)
        assert torch.equal(c1, c2)
    assert not torch.equal(first[0][0], other[0][0])


@pytest.mark.parametrize("name", MAKERS)
def test_global_rngs_are_untouched(name):
    numpy_before, torch_before = np.random.get_state(), torch.get_rng_state()
    es = make(name)
    run(es, 6)
    es.load_state_dict(es.state_dict())
    run(es, 1)
    numpy_after = np.random.get_state()
    assert np.array_equal(numpy_before[1], numpy_after[1])
    assert numpy_before[2:] == numpy_after[2:]
    assert torch.equal(torch_before, torch.get_rng_state())


@pytest.mark.parametrize("name", MAKERS)
def test_best_so_far_and_metrics(name):
    es = make(name)
    assert es.best_params is None
    assert es.best_fitness == -math.inf
    assert math.isnan(es.metrics["fitness_mean"])
    trace = run(es, 3)
    all_candidates = torch.cat([candidates for candidates, _ in trace])
    all_fitness = sphere(all_candidates).double()
    assert es.best_fitness == all_fitness.max().item()
    assert torch.equal(es.best_params, all_candidates[all_fitness.argmax()])
    metrics = es.metrics
    last = sphere(trace[-1][0]).double()
    assert metrics["generation"] == 3
    assert metrics["fitness_mean"] == pytest.approx(last.mean().item())
    assert metrics["fitness_max"] == last.max().item()
    assert metrics["fitness_min"] == last.min().item()
    assert metrics["best_fitness"] == es.best_fitness
    assert metrics["sigma_mean"] == pytest.approx(es.sigma.mean().item())
    assert set(metrics) >= {"fitness_std", "sigma_min", "sigma_max", "center_norm"}


# --- checkpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize("generations_before", [0, 5])
def test_state_dict_round_trip_continues_bit_identically(name, generations_before, tmp_path):
    es = make(name, seed=1)
    run(es, generations_before)
    torch.save(es.state_dict(), tmp_path / "es.pt")
    expected = run(es, 5)
    restored = make(name, seed=99)  # everything must come from the checkpoint
    restored.load_state_dict(torch.load(tmp_path / "es.pt", weights_only=True))
    assert restored.generation == generations_before
    got = run(restored, 5)
    for (x1, c1), (x2, c2) in zip(expected, got, strict=True):
        assert torch.equal(x1, x2)
        assert torch.equal(c1, c2)
    assert torch.equal(es.sigma, restored.sigma)
    assert es.best_fitness == restored.best_fitness
    assert torch.equal(es.best_params, restored.best_params)


@pytest.mark.parametrize("name", MAKERS)
def test_state_dict_holds_only_tensors_and_numbers(name):
    es = make(name)
    run(es, 2)
    state_dict = es.state_dict()
    assert all(isinstance(v, torch.Tensor | int | float) for v in state_dict.values())
    assert state_dict["generator"].dtype == torch.uint8


@pytest.mark.parametrize("name", MAKERS)
def test_load_state_dict_rejects_mismatches_and_changes_nothing(name):
    es = make(name)
    run(es, 2)
    good = es.state_dict()
    missing = {k: v for k, v in good.items() if k != "generation"}
    with pytest.raises(ValueError, match="missing \\['generation'\\]"):
        es.load_state_dict(missing)
    with pytest.raises(ValueError, match="unexpected \\['extra'\\]"):
        es.load_state_dict({**good, "extra": 1})
    with pytest.raises(ValueError, match="popsize"):
        es.load_state_dict({**good, "popsize": es.popsize + 2})
    key = "state.center" if "state.center" in good else "state.mean"
    wrong = {**good, key: torch.zeros(es.dim + 1, dtype=good[key].dtype)}
    with pytest.raises(ValueError, match=key):
        es.load_state_dict(wrong)
    assert es.generation == 2
    assert run(es, 1)[0][0].shape == (es.popsize, es.dim)

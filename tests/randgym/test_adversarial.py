"""The adversarial-instance wrapper with each adversary, for all envs and under vector envs."""

from __future__ import annotations

import math
import time

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import randgym
from randgym.wrappers import (
    AdversarialInstances,
    FixedAdversary,
    TrackingAdversary,
    UniformAdversary,
    WorstCaseAdversary,
)
from tests.randgym.test_grid_explore import sweep_then_exploit


def play_episode(env: gym.Env, policy=None) -> tuple:
    obs, info = env.reset()
    total, done = 0.0, False
    while not done:
        action = env.action_space.sample() if policy is None else policy(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        total, done = total + reward, terminated or truncated
    return info["instance"], total


def sample_candidates(env_id: str, count: int = 6) -> list:
    generator = gym.make(env_id).unwrapped.generator
    return [generator.sample(np.random.default_rng(i)) for i in range(count)]


def test_uniform_adversary_uses_its_own_rng():
    def instances(seed):
        env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), UniformAdversary(seed))
        return [tuple(play_episode(env)[0]) for _ in range(20)]

    assert instances(1) == instances(1) and instances(1) != instances(2)


def test_fixed_adversary_cycles_through_its_list():
    cells = [(4, 4), (1, 0), (2, 3)]
    env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), FixedAdversary(cells))
    served = [tuple(play_episode(env)[0]) for _ in range(7)]
    assert served == cells * 2 + cells[:1]


def test_worst_case_adversary_serves_the_worst_of_a_hand_made_score():
    scores = {(x, y): (x - 2) ** 2 + (y - 3) ** 2 for x in range(5) for y in range(5)}
    adversary = WorstCaseAdversary(lambda cell: scores[tuple(cell)], seed=0)
    env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    assert {tuple(play_episode(env)[0]) for _ in range(10)} == {(2, 3)}
    adversary.score_fn = lambda cell: -scores[tuple(cell)]
    adversary.rescore()
    assert {tuple(play_episode(env)[0]) for _ in range(10)} == {(4, 0)}


def test_worst_case_adversary_serves_the_k_worst_of_a_candidate_set():
    candidates = [(1, 1), (2, 2), (3, 3), (4, 4)]
    adversary = WorstCaseAdversary(lambda c: -c[0], candidates, num_worst=2, seed=0)
    env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    assert {tuple(play_episode(env)[0]) for _ in range(30)} == {(3, 3), (4, 4)}


def test_tracking_adversary_concentrates_on_a_consistently_failed_instance():
    adversary = TrackingAdversary(q=math.inf, exploration=0.1, max_return=0.0, seed=0)
    env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    served = [tuple(play_episode(env, sweep_then_exploit)[0]) for _ in range(200)]
    # The sweep arrives last at (4, 4): return -32, the worst of all 24 cells.
    assert served[100:].count((4, 4)) >= 80
    assert len(set(served)) == 24  # exploration starves no instance


def test_tracking_candidates_of_a_small_space_are_its_numbered_instances():
    adversary = TrackingAdversary(seed=0)
    env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    cells = [tuple(cell) for cell in adversary.instances]
    assert cells == [tuple(cell) for cell in env.unwrapped.generator.instances()]
    with pytest.raises(IndexError, match="candidate 24 is out of range"):
        adversary.instances[24]


def test_tracking_adversary_with_q_one_is_uniform():
    adversary = TrackingAdversary(q=1, exploration=0.0, seed=0)
    env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    for _ in range(40):
        play_episode(env, sweep_then_exploit)
    np.testing.assert_allclose(adversary.probabilities(), np.full(24, 1 / 24))


def test_tracking_weights_grow_with_the_loss():
    adversary = TrackingAdversary(q=3, exploration=0.0, max_return=0.0, instances=[(1, 0), (2, 0)])
    AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    adversary.observe(np.array([1, 0]), -10.0)
    adversary.observe(np.array([2, 0]), -20.0)
    np.testing.assert_allclose(adversary.probabilities(), [1 / 5, 4 / 5])  # 10^2 : 20^2


@pytest.mark.parametrize("env_id", randgym.ENV_IDS)
@pytest.mark.parametrize("kind", ["uniform", "fixed", "worst", "tracking"])
def test_every_adversary_works_on_every_env(env_id, kind):
    candidates = sample_candidates(env_id)
    adversary = {
        "uniform": lambda: UniformAdversary(seed=0),
        "fixed": lambda: FixedAdversary(candidates),
        "worst": lambda: WorstCaseAdversary(lambda inst: 0.0, candidates, seed=0),
        "tracking": lambda: TrackingAdversary(q=4, instances=candidates, seed=0),
    }[kind]()
    env = AdversarialInstances(gym.make(env_id), adversary)
    generator = env.unwrapped.generator
    keys = {generator.key(c) for c in candidates}
    for _ in range(5):
        instance, _ = play_episode(env)
        assert kind == "uniform" or generator.key(instance) in keys


def test_shared_adversary_under_make_vec():
    adversary = TrackingAdversary(q=4, seed=0)
    envs = gym.make_vec(
        "RandAlg/GridExplore-v0",
        num_envs=3,
        vectorization_mode="sync",
        wrappers=[lambda env: AdversarialInstances(env, adversary)],
    )
    envs.reset(seed=0)
    for _ in range(120):
        envs.step(envs.action_space.sample())
    assert np.sum(~np.isnan(adversary.estimates)) >= 3


def test_sb3_trains_on_an_adversarially_wrapped_env():
    adversary = TrackingAdversary(q=4, max_return=0.0, seed=0)
    envs = make_vec_env(
        lambda: AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary),
        n_envs=2,
        seed=0,
    )
    model = PPO("MultiInputPolicy", envs, n_steps=64, batch_size=64, n_epochs=1, seed=0)
    model.learn(total_timesteps=256)
    assert np.sum(~np.isnan(adversary.estimates)) >= 2


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="q=0.5"):
        TrackingAdversary(q=0.5)
    with pytest.raises(ValueError, match="exploration=2"):
        TrackingAdversary(exploration=2)
    with pytest.raises(ValueError, match="num_worst=0"):
        WorstCaseAdversary(lambda inst: 0.0, num_worst=0)
    with pytest.raises(ValueError, match="no instance generator"):
        AdversarialInstances(gym.make("CartPole-v1"), UniformAdversary())
    with pytest.raises(ValueError, match="start cell"):
        AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), FixedAdversary([(0, 0)]))


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"q": NAN}, "q=nan must be a number >= 1"),
        ({"q": True}, "q=True must be a number"),
        ({"q": "8"}, "q='8' must be a number"),
        ({"exploration": NAN}, "exploration=nan must be a finite number"),
        ({"exploration": -0.1}, r"exploration=-0.1 must be a finite number in \[0.0, 1.0\]"),
        ({"smoothing": 0.0}, r"smoothing=0.0 must be in \(0, 1\]"),
        ({"smoothing": INF}, "smoothing=inf must be a finite number"),
        ({"max_return": NAN}, "max_return=nan must be a finite number"),
        ({"max_return": -INF}, "max_return=-inf must be a finite number"),
        ({"seed": -1}, "seed=-1 must be an integer >= 0"),
        ({"seed": 1.5}, "seed=1.5 must be an integer >= 0"),
    ],
)
def test_tracking_adversary_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrackingAdversary(**kwargs)


def test_tracking_adversary_accepts_q_inf_and_integer_arguments():
    adversary = TrackingAdversary(q=math.inf, exploration=0, smoothing=1, max_return=0, seed=3)
    assert (adversary.q, adversary.exploration, adversary.smoothing) == (math.inf, 0.0, 1.0)


@pytest.mark.parametrize("bad_return", [NAN, INF, -INF, "1"])
def test_observe_refuses_a_non_finite_return_and_records_nothing(bad_return):
    adversary = TrackingAdversary(q=3, instances=[(1, 0), (2, 0)], seed=0)
    AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    with pytest.raises(ValueError, match=r"episode_return=.* \(the return on instance \(2, 0\)\)"):
        adversary.observe((2, 0), bad_return)
    assert np.isnan(adversary.estimates).all()
    adversary.observe((2, 0), -3)
    np.testing.assert_array_equal(adversary.estimates, [np.nan, -3.0])


def test_every_adversary_refuses_a_non_finite_return():
    adversary = UniformAdversary(seed=0)
    AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    with pytest.raises(ValueError, match=r"episode_return=nan .*instance \(1, 1\)"):
        adversary.observe((1, 1), NAN)


@pytest.mark.parametrize("bad_score", [NAN, INF])
def test_worst_case_adversary_names_the_instance_with_a_non_finite_score(bad_score):
    candidates = [(1, 0), (2, 0), (3, 0)]
    adversary = WorstCaseAdversary(lambda c: bad_score if c[0] == 2 else 0.0, candidates)
    with pytest.raises(ValueError, match=rf"score {bad_score} for instance array\(\[2, 0\]\)"):
        AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    assert adversary.generator is None  # the failed bind left it unbound
    adversary.score_fn = lambda c: -c[0]
    AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    assert tuple(adversary.propose()) == (3, 0)
    adversary.score_fn = lambda c: NAN
    with pytest.raises(ValueError, match="non-finite score nan"):
        adversary.rescore()
    assert tuple(adversary.propose()) == (3, 0)  # the old scores are kept


@pytest.mark.parametrize("kwargs", [{"num_worst": True}, {"num_worst": 0}, {"seed": -5}])
def test_worst_case_adversary_refuses_bad_integers(kwargs):
    name, value = next(iter(kwargs.items()))
    with pytest.raises(ValueError, match=f"{name}={value} must be an integer"):
        WorstCaseAdversary(lambda inst: 0.0, **kwargs)


def test_adversary_bound_to_another_instance_space_is_refused():
    adversary = UniformAdversary()
    AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), adversary)
    with pytest.raises(ValueError, match="already bound"):
        AdversarialInstances(gym.make("RandAlg/GridExplore-v0", size=6), adversary)


def test_worst_case_adversary_refuses_an_unenumerable_space():
    with pytest.raises(ValueError, match="candidate list"):
        AdversarialInstances(
            gym.make("RandAlg/AssociativeRecall-v1"), WorstCaseAdversary(lambda inst: 0.0)
        )


def test_tracking_adversary_on_graph_coloring_builds_at_once_and_numbers_the_cycles():
    start = time.perf_counter()
    adversary = TrackingAdversary(q=8, exploration=0.0, max_return=1.0, seed=0)
    env = AdversarialInstances(gym.make("RandAlg/GraphColoring-v0"), adversary)
    assert time.perf_counter() - start < 1.0
    generator = env.unwrapped.generator
    assert len(adversary.instances) == len(adversary.estimates) == 181_440
    cycle = generator.instance_from_index(12_345)
    np.testing.assert_array_equal(adversary.instances[12_345], cycle)
    adversary.observe(cycle, 0.0)  # failed: the only seen loss, as high as the unseen ones
    for index in range(20):
        adversary.observe(generator.instance_from_index(index), 1.0)
    assert adversary.estimates[12_345] == 0.0 and np.sum(~np.isnan(adversary.estimates)) == 21
    probabilities = adversary.probabilities()
    assert probabilities[12_345] > 0 and probabilities[:20].sum() == 0.0
    for _ in range(300):  # proposals come in batched blocks, all valid cycles
        instance, _ = play_episode(env)
        generator.validate(instance)
    assert np.sum(~np.isnan(adversary.estimates)) > 250


def test_tracking_adversary_pools_a_space_too_large_to_enumerate():
    adversary = TrackingAdversary(q=8, max_return=1.0, pool_size=64, seed=0)
    env = AdversarialInstances(gym.make("RandAlg/AssociativeRecall-v1"), adversary)
    generator = env.unwrapped.generator
    assert adversary.pooled and len(adversary.instances) == 64
    pool = {generator.key(instance) for instance in adversary.instances}
    assert {generator.key(play_episode(env)[0]) for _ in range(40)} <= pool


def test_the_pool_replaces_its_easiest_seen_members_after_pool_size_episodes():
    adversary = TrackingAdversary(max_return=1.0, pool_size=64, pool_refresh=0.25, seed=0)
    AdversarialInstances(gym.make("RandAlg/AssociativeRecall-v1"), adversary)
    before = list(adversary.instances)
    for i in range(63):  # members 0..62 seen, the easiest with the highest return; 63 unseen
        adversary.observe(before[i], i / 100)
    assert all(now is then for now, then in zip(adversary.instances, before, strict=True))
    adversary.observe(before[0], 0.0)  # the 64th observed episode refreshes the pool
    replaced = [i for i in range(64) if adversary.instances[i] is not before[i]]
    assert replaced == list(range(47, 63))  # a quarter: the 16 highest estimates
    assert np.isnan(adversary.estimates[47:]).all() and not np.isnan(adversary.estimates[:47]).any()


def test_tracking_adversary_refuses_bad_pool_arguments():
    with pytest.raises(ValueError, match="pool_size=0 must be an integer >= 1"):
        TrackingAdversary(pool_size=0)
    with pytest.raises(ValueError, match=r"pool_refresh=0.0 must be in \(0, 1\]"):
        TrackingAdversary(pool_refresh=0.0)


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("RandAlg/GridExplore-v0", {}),
        ("RandAlg/GraphColoring-v0", {"n_vertices": 7}),
        ("RandAlg/GraphColoring-v0", {"n_vertices": 4, "family": "erdos_renyi"}),
        ("RandAlg/AssociativeRecall-v1", {"n_pairs": 2, "value_bits": 2}),
    ],
)
def test_listed_candidates_are_the_enumeration_in_index_order(env_id, kwargs):
    adversary = WorstCaseAdversary(lambda inst: 0.0)
    generator = gym.make(env_id, **kwargs).unwrapped.generator
    adversary.bind(generator)
    expected = list(generator.instances())
    assert len(adversary.instances) == len(expected)
    for got, want in zip(adversary.instances, expected, strict=True):
        assert generator.key(got) == generator.key(want)


@pytest.mark.parametrize(
    "env_id", ["RandAlg/GridExplore-v0", "RandAlg/GraphColoring-v0", "RandAlg/AssociativeRecall-v1"]
)
def test_batched_enumeration_refuses_indices_out_of_range(env_id):
    kwargs = {"n_pairs": 2} if "Recall" in env_id else {}
    generator = gym.make(env_id, **kwargs).unwrapped.generator
    with pytest.raises(ValueError, match="out of range"):
        generator.instances_from_indices(np.array([0, generator.num_instances]))

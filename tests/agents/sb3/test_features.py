"""TokenHistory and TransformerFeatures: the task's tokens so far, read by our transformer."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.preprocessing import preprocess_obs

import randgym
from agents.sb3.features import TransformerFeatures, transformer_policy_kwargs
from agents.sb3.history import TokenHistory, task_player
from agents.tasks import task_for_env
from randgym.wrappers import PolicySeedObservation

ENV_IDS = randgym.ENV_IDS


def history_env(env_id: str, seed_obs: bool = False, **kwargs) -> gym.Env:
    env = TokenHistory(gym.make(env_id, **kwargs))
    return PolicySeedObservation(env, bits=8) if seed_obs else env


def torch_obs(env: gym.Env, obs: dict) -> dict:
    batch = {key: torch.as_tensor(np.asarray(value))[None] for key, value in obs.items()}
    return preprocess_obs(batch, env.observation_space)


@pytest.mark.parametrize("seed_obs", [False, True])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_history_env_passes_the_checkers(env_id, seed_obs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        check_env(history_env(env_id, seed_obs), skip_render_check=True)
        sb3_check_env(history_env(env_id, seed_obs))


def test_grid_history_holds_the_players_tokens_step_by_step():
    env = history_env("RandAlg/GridExplore-v0")
    player = env.player
    obs, _ = env.reset(seed=3)
    raw = [env.unwrapped._observation()]
    for _ in range(5):
        obs, *_ = env.step(2)
        raw.append(env.unwrapped._observation())
    tokens = obs["tokens"].reshape(player.length, player.input_dim)
    expected = np.concatenate([player.tokens({k: v[None] for k, v in o.items()}).numpy()
                               for o in raw])  # fmt: skip
    np.testing.assert_array_equal(tokens[:6], expected)
    assert not tokens[6:].any() and obs["mask"].tolist() == [1] * 6 + [0] * (player.length - 6)


def test_a_full_grid_history_keeps_its_rows():
    env = history_env("RandAlg/GridExplore-v0", size=2, horizon=3, n_phases=1)
    obs, _ = env.reset(seed=0, options={"instance": (1, 1)})
    done, steps = False, 0
    while not done:
        obs, _, done, _, _ = env.step(0)  # left: never finds the treasure
        steps += 1
    assert steps == 3 and obs["mask"].sum() == 3


def test_one_shot_histories_are_the_whole_sequence():
    env = history_env("RandAlg/GraphColoring-v0")
    obs, info = env.reset(seed=0)
    assert obs["mask"].all()
    np.testing.assert_array_equal(obs["attention"], info["instance"])
    recall = history_env("RandAlg/AssociativeRecall-v1")
    obs, _ = recall.reset(seed=0)
    assert obs["mask"].all() and "attention" not in obs


def test_task_player_refuses_envs_without_a_task():
    with pytest.raises(ValueError, match="has no task"):
        task_player(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="do not fit the task"):
        task_player(gym.make("RandAlg/GraphColoring-v0", n_colors=4))


def test_last_readout_is_the_transformer_over_the_history_so_far():
    env = history_env("RandAlg/GridExplore-v0", seed_obs=True)
    task = task_for_env("RandAlg/GridExplore-v0")()
    kwargs = transformer_policy_kwargs(task, env, preset="small", features_per_token=6)
    extractor = TransformerFeatures(env.observation_space, **kwargs["features_extractor_kwargs"])
    obs, _ = env.reset(seed=0)
    for _ in range(4):
        obs, *_ = env.step(1)
    features = extractor(torch_obs(env, obs))  # (1, 6)
    model, player = extractor.model, env.env.player
    tokens = torch.as_tensor(obs["tokens"]).view(player.length, player.input_dim)[:5]
    seed = torch.as_tensor(obs["policy_seed"], dtype=torch.float32).expand(5, -1)
    direct = model(torch.cat([tokens, seed], dim=1)[None], torch.empty(1, 0))[0, 0, -1]
    torch.testing.assert_close(features[0], direct)
    assert model.config.input_dim == player.input_dim + 8 and model.config.seed_mode == "none"


def test_all_readout_gives_every_vertex_its_features():
    env = history_env("RandAlg/GraphColoring-v0")
    task = task_for_env("RandAlg/GraphColoring-v0")()
    kwargs = transformer_policy_kwargs(task, env, features_per_token=4)
    assert kwargs["features_extractor_kwargs"]["readout"] == "all"
    extractor = TransformerFeatures(env.observation_space, **kwargs["features_extractor_kwargs"])
    assert extractor.features_dim == 40
    obs, _ = env.reset(seed=0)
    assert extractor(torch_obs(env, obs)).shape == (1, 40)


def test_bad_arguments_are_refused():
    env = history_env("RandAlg/GridExplore-v0")
    config = {"output_dim": 4, "width": 8, "key_size": 4}
    with pytest.raises(ValueError, match="readout='first'"):
        TransformerFeatures(env.observation_space, config, readout="first")
    raw = gym.make("RandAlg/GridExplore-v0")
    with pytest.raises(ValueError, match="TokenHistory"):
        TransformerFeatures(raw.observation_space, config)
    with pytest.raises(ValueError, match="TokenHistory"):
        transformer_policy_kwargs(task_for_env("RandAlg/GridExplore-v0")(), raw)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_ppo_with_transformer_features_trains_and_reloads(env_id, tmp_path):
    env = history_env(env_id, seed_obs=True)
    task = task_for_env(env_id)()
    kwargs = transformer_policy_kwargs(task, env, features_per_token=8)
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1,
                policy_kwargs=kwargs, seed=0)  # fmt: skip
    model.learn(128)
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip")
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )


def test_dqn_with_transformer_features_trains_on_the_grid():
    env = history_env("RandAlg/GridExplore-v0")
    kwargs = transformer_policy_kwargs(task_for_env("RandAlg/GridExplore-v0")(), env,
                                       preset="tiny", features_per_token=8)  # fmt: skip
    model = DQN("MultiInputPolicy", env, learning_starts=32, buffer_size=500,
                policy_kwargs=kwargs, seed=0)  # fmt: skip
    model.learn(200)
    assert model.num_timesteps == 200

"""`TransformerFeatures`: our seeded transformer as the features extractor of an SB3 policy.

It reads the observation of `agents.sb3.history.TokenHistory` (the episode's tokens so far)
and runs a `SeededTransformer` over them, with the attention mask of the task when there is
one. Every other observation key (e.g. the policy seed of `PolicySeedObservation`) is
flattened and appended to every token: the seed enters as the ``shared_bits`` encoding does,
concatenated to each token, so the model itself has ``seed_mode="none"``. The features are
the transformer's outputs at the last token seen (``readout="last"``) or at every token, one
after the other (``readout="all"``: when the action has one component per token, as a color
per vertex). SB3's policy and value heads follow. `FlatFeatures` is SB3's own extractor,
usable by every algorithm.

    policy_kwargs = transformer_policy_kwargs(task, history_env)
    PPO("MultiInputPolicy", history_env, policy_kwargs=policy_kwargs)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor
from torch import Tensor

from agents.models.transformer import SeededTransformer, TransformerConfig
from agents.sb3.env_recipe import find_wrapper
from agents.sb3.history import HISTORY_KEYS, TokenHistory
from agents.tasks.base import Task

READOUTS = ("last", "all")


class TransformerFeatures(BaseFeaturesExtractor):
    """A causal (or task-masked) transformer over a token history (see the module docstring).

    Args:
        observation_space: A ``Dict`` with the `TokenHistory` keys and any others.
        config: `TransformerConfig` fields; ``output_dim`` is the features per token,
            ``input_dim`` and ``max_len`` are set from the space, ``seed_mode`` to ``"none"``
            (the other seed fields to their defaults).
        readout: ``"last"`` or ``"all"``.
        seed: Seed of the initial weights.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        config: dict[str, Any],
        readout: str = "last",
        seed: int = 0,
    ) -> None:
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r} is unknown; expected one of {READOUTS}")
        missing = [key for key in HISTORY_KEYS[:2] if key not in observation_space.spaces]
        if missing:
            raise ValueError(
                f"observation space {observation_space} lacks {missing}; wrap the env in "
                "TokenHistory"
            )
        length = observation_space["mask"].shape[0]
        token_dim = observation_space["tokens"].shape[0] // length
        extra = sorted(key for key in observation_space.spaces if key not in HISTORY_KEYS)
        extra_dim = sum(spaces.flatdim(observation_space[key]) for key in extra)
        seedless = {  # every seed field at its default: the seed comes as token features
            field.name: field.default
            for field in dataclasses.fields(TransformerConfig)
            if field.name.startswith("seed_")
        }
        fixed = {**seedless, "seed_mode": "none", "seed_dim": 0,
                 "input_dim": token_dim + extra_dim, "max_len": length}  # fmt: skip
        model_config = TransformerConfig(**{**config, **fixed})
        per_token = model_config.output_dim
        super().__init__(observation_space, per_token * (length if readout == "all" else 1))
        self.length, self.token_dim, self.extra, self.readout = length, token_dim, extra, readout
        self.model = SeededTransformer(model_config, torch.Generator().manual_seed(seed))
        self.register_buffer("no_seed", torch.empty(1, 0), persistent=False)

    def forward(self, observations: dict[str, Tensor]) -> Tensor:
        """Features (B, features_dim) of a batch of (SB3-preprocessed) observations."""
        tokens = observations["tokens"].unflatten(1, (self.length, self.token_dim))
        if self.extra:
            extra = torch.cat([observations[key].flatten(1) for key in self.extra], dim=1)
            tokens = torch.cat([tokens, extra[:, None].expand(-1, self.length, -1)], dim=2)
        attention = observations.get("attention")
        mask = None if attention is None else attention > 0.5
        outputs = self.model(tokens, self.no_seed, mask)[:, 0]  # (B, L, per_token)
        if self.readout == "all":
            return outputs.flatten(1)
        last = observations["mask"].sum(dim=1).long().clamp(min=1) - 1  # (B,)
        return outputs[torch.arange(len(last), device=last.device), last]


class FlatFeatures(CombinedExtractor):
    """SB3's extractor of ``Dict`` observations (``MultiInputPolicy``), its size a Python int.

    SB3 sizes the features of a ``Discrete`` key by gymnasium's ``Discrete.n``, a numpy
    integer, which torch's LSTM (RecurrentPPO's policy) refuses as its input size.
    """

    def __init__(self, observation_space: spaces.Dict, **kwargs: Any) -> None:
        super().__init__(observation_space, **kwargs)
        self._features_dim = int(self._features_dim)


def transformer_policy_kwargs(
    task: Task,
    env: gym.Env,
    preset: str | None = None,
    features_per_token: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` that put a model preset of ``task`` over ``env``'s token history.

    Args:
        task: The task of the env (its model presets).
        env: The env the policy acts in, with a `TokenHistory` in its wrappers.
        preset: The task's model preset; default: its first ("paper").
        features_per_token: Outputs of the transformer per token.
        seed: Seed of the transformer's initial weights.

    Raises:
        ValueError: If ``env`` has no `TokenHistory` wrapper or the preset is unknown.
    """
    history = find_wrapper(env, TokenHistory)
    if history is None:
        raise ValueError(f"{env} has no TokenHistory wrapper; wrap the env in TokenHistory first")
    config = task.model_config(preset or next(iter(task.presets)), output_dim=features_per_token)
    readout = "all" if history.per_token_actions else "last"
    return {
        "features_extractor_class": TransformerFeatures,
        "features_extractor_kwargs": {
            "config": dataclasses.asdict(config), "readout": readout, "seed": seed,
        },
    }  # fmt: skip

"""stable-baselines3 on the randgym envs: vector-env adapter, transformer features, evaluation."""

from agents.sb3.adversary import AdversarialVecEnv, InstanceSlot, make_adversarial_vec_env
from agents.sb3.callbacks import AdversaryLogger
from agents.sb3.env_recipe import EnvRecipe
from agents.sb3.evaluation import evaluation_instances, evaluation_rows, play_instances
from agents.sb3.features import FlatFeatures, TransformerFeatures, transformer_policy_kwargs
from agents.sb3.history import TokenHistory
from agents.sb3.vec_adapter import NativeVecEnv

__all__ = [
    "AdversarialVecEnv",
    "AdversaryLogger",
    "EnvRecipe",
    "FlatFeatures",
    "InstanceSlot",
    "NativeVecEnv",
    "TokenHistory",
    "TransformerFeatures",
    "evaluation_instances",
    "evaluation_rows",
    "make_adversarial_vec_env",
    "play_instances",
    "transformer_policy_kwargs",
]

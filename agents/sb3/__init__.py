"""stable-baselines3 on the randgym envs: vector-env adapter, transformer features, evaluation."""

from agents.sb3.adversary import AdversarialVecEnv, InstanceSlot, make_adversarial_vec_env

__all__ = ["AdversarialVecEnv", "InstanceSlot", "make_adversarial_vec_env"]

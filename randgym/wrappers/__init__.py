"""Wrappers for randgym envs."""

from randgym.wrappers.adversarial import (
    AdversarialInstances,
    Adversary,
    FixedAdversary,
    TrackingAdversary,
    UniformAdversary,
    WorstCaseAdversary,
)
from randgym.wrappers.policy_seed import PolicySeedObservation

__all__ = [
    "AdversarialInstances",
    "Adversary",
    "FixedAdversary",
    "PolicySeedObservation",
    "TrackingAdversary",
    "UniformAdversary",
    "WorstCaseAdversary",
]

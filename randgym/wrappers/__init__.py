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
from randgym.wrappers.vector_adversarial import AdversarialVectorInstances, InstanceSlot

__all__ = [
    "AdversarialInstances",
    "AdversarialVectorInstances",
    "Adversary",
    "FixedAdversary",
    "InstanceSlot",
    "PolicySeedObservation",
    "TrackingAdversary",
    "UniformAdversary",
    "WorstCaseAdversary",
]

"""Wrappers for randgym envs."""

from randgym.wrappers.adversarial import (
    AdversarialInstances,
    Adversary,
    FixedAdversary,
    TrackingAdversary,
    UniformAdversary,
    WorstCaseAdversary,
)

__all__ = [
    "AdversarialInstances",
    "Adversary",
    "FixedAdversary",
    "TrackingAdversary",
    "UniformAdversary",
    "WorstCaseAdversary",
]

"""Checks of constructor arguments that name the offending value and what was expected."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """Returns `value` as an int, or raises ValueError unless it is an integer in range.

    Args:
        name: The argument's name, for the message.
        value: The value to check; bools are refused.
        minimum: The smallest value allowed.
        maximum: The largest value allowed, None for no upper bound.
    """
    integral = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not integral or value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name}={value!r} must be an integer {bound}")
    return int(value)


def check_float(name: str, value: object, low: float = -np.inf, high: float = np.inf) -> float:
    """Returns `value` as a float, or raises ValueError unless it is finite and in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name}={value!r} must be a number")
    if not (np.isfinite(value) and low <= value <= high):
        bound = "" if (low, high) == (-np.inf, np.inf) else f" in [{low}, {high}]"
        raise ValueError(f"{name}={value!r} must be a finite number{bound}")
    return float(value)


def check_choice(name: str, value: object, choices: Collection[str]) -> str:
    """Returns `value`, or raises ValueError unless it is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; expected one of {sorted(choices)}")
    return str(value)

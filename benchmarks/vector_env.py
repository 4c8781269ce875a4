"""Steps per second of each native vector env against `SyncVectorEnv` of the single env.

    python -m benchmarks.vector_env [--num-envs 1024] [--seconds 3]

Both run in this process on the same pre-drawn random actions; the ratio is measured in one
run. Target: >= 50x for GridExplore at 1,024 sub-envs.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym

import randgym
from benchmarks.machine import describe


def steps_per_second(envs: gym.vector.VectorEnv, seconds: float) -> float:
    """Sub-env steps per second of `envs` over about `seconds` of stepping."""
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(64)]
    envs.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        envs.step(actions[steps % len(actions)])
        steps += 1
    return steps * envs.num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(f"{'env':32s} {'native steps/s':>15s} {'sync steps/s':>13s} {'ratio':>7s}")
    for env_id in randgym.ENV_IDS:
        native = gym.make_vec(env_id, args.num_envs, vectorization_mode="vector_entry_point")
        sync = gym.make_vec(env_id, args.num_envs, vectorization_mode="sync")
        fast = steps_per_second(native, args.seconds)
        slow = steps_per_second(sync, args.seconds)
        print(f"{env_id:32s} {fast:15,.0f} {slow:13,.0f} {fast / slow:6.1f}x")


if __name__ == "__main__":
    main()

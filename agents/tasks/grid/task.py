"""Grid-world exploration (`RandAlg/GridExplore-v0`), trained by evolution strategies.

The model reads one token per step (see ``agents.tasks.grid.tokenizer``) and decodes its next
move incrementally; its policy seed is a N(0, 1) vector embedded as a first token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.baselines.game_value import MAX_SIZE, grid_references
from agents.baselines.grid import PathExplorer, all_paths
from agents.evolution.engine import Rollouts
from agents.tasks.base import Baseline, Task
from agents.tasks.grid.player import GridPlayer
from agents.tasks.grid.report import first_visit_times, save_heat_map, trajectory_text

N_ACTIONS = 4  # left, up, right, down


class GridTask(Task):
    """Find a hidden treasure, then walk back to it: the oblivious adversary picks the cell.

    Args:
        **env_kwargs: ``size``, ``horizon``, ``n_phases``, ``step_reward``, ``find_reward``.
    """

    name = "grid"
    env_id = "RandAlg/GridExplore-v0"
    size_kwarg = "size"
    presets = {
        # the paper's model: 2 blocks of 4 softmax heads, width 80, a N(0, 1) seed token
        "paper": dict(
            width=80, n_layers=2, n_heads=4, key_size=10, attention="softmax", mlp=True,
            layer_norm=True, embed_mlp=False, positional="sinusoidal", mask="causal",
            seed_mode="prefix_normal", seed_dim=80,
        ),
        # ours: a small linear-attention model that ES trains in minutes on a CPU
        "small": dict(
            width=32, n_layers=2, n_heads=2, key_size=8, attention="linear", mlp=True,
            layer_norm=True, embed_mlp=False, positional="sinusoidal", mask="causal",
            seed_mode="prefix_normal", seed_dim=8,
        ),
        # one block of width 16 (4k parameters): what the default ES recipe trains in minutes;
        # a mixture of 8 policies (a pool of 8 seeds, played whole: no noise over seeds), whose
        # wide seeds (std 5) make them differ from the start
        "tiny": dict(
            width=16, n_layers=1, n_heads=2, key_size=8, attention="linear", mlp=True,
            layer_norm=True, embed_mlp=False, positional="sinusoidal", mask="causal",
            seed_mode="prefix_normal", seed_dim=8, seed_pool=8, seed_std=5.0,
        ),
    }  # fmt: skip
    # the tiny block as a MemoryProcessor: 2 rounds per token with a memory of ideas, decoded
    # step by step in the ES engine
    presets["tiny_memory"] = {**presets["tiny"], "memory_rounds": 2}
    evolution_presets = {
        # ~2.5 min on 2 cores (results/grid/recipes/RECIPES.md): ERM over the cells first
        # (it learns to cover the grid), then q = 8, which keeps a gradient where the worst
        # cell is never found by any candidate (q = inf stalls there); no visited map; m is
        # the tiny model's seed pool
        "default": dict(
            model_preset="tiny", player={"visited_map": False}, m=8, generations=800,
            es={"popsize": 32, "center_lr": 0.01, "sigma_init": 0.05},
            q=8.0, q_schedule=((40, 1.0),),
        ),
        # the paper's PGPE and model; its 25k generations take days on a CPU
        "paper": dict(
            es={"popsize": 300, "center_lr": 0.01, "std_lr": 0.01, "sigma_init": 0.03},
            player={"visited_map": False}, generations=25_000,
        ),
    }  # fmt: skip

    def make_player(self, **options: Any) -> Any:
        """How a model explores the env in the evolution pipeline (``visited_map`` option)."""
        return GridPlayer(self.env, **options)

    def describe(self, rollouts: Rollouts, out: Path) -> list[str]:
        """Saves the first-visit heat map; the phase-1 paths to the far corner under 3 seeds."""
        dynamics = self.env.dynamics
        times = first_visit_times(rollouts, dynamics.size, dynamics.horizon)
        save_heat_map(times, out / "heatmap.png", "first visit, trained agent")
        corner = self.generator.num_instances - 1  # the far corner: the whole sweep is visible
        where = tuple(int(v) for v in self.generator.instance_from_index(corner))
        blocks = []
        for seed in range(min(3, rollouts.positions.shape[3])):
            exploring = rollouts.phases[:, 0, corner, seed] == 0
            path = rollouts.positions[exploring, 0, corner, seed]
            blocks.append(trajectory_text(path, dynamics.size))
        lines = [f"Phase-1 paths to the treasure at {where} under 3 seeds (step of first visit):"]
        lines += ["    ".join(row) for row in zip(*blocks, strict=True)]
        return [*lines, f"Saved {out / 'heatmap.png'}"]

    def references(self) -> dict[str, dict[str, float]]:
        """Exact references: the game value, the best coin flip of two sweeps, the best sweep."""
        dynamics = self.env.dynamics
        if dynamics.size > MAX_SIZE:
            return {}
        rewards = (dynamics.horizon, dynamics.n_phases, dynamics.step_reward, dynamics.find_reward)
        return grid_references(dynamics.size, *rewards)

    def baselines(self) -> list[Baseline]:
        """The serpentine sweep (deterministic) and one of 4 sweeps chosen by the seed."""
        paths = all_paths(self.size)
        return [
            Baseline("serpentine sweep", lambda seed: PathExplorer(paths[:1], seed), False),
            Baseline("one of 4 sweeps by seed", lambda seed: PathExplorer(paths, seed), True),
        ]

"""Grid-world exploration (`RandAlg/GridExplore-v0`), trained by evolution strategies.

The model reads one token per step (see ``agents.tasks.grid.tokenizer``) and decodes its next
move incrementally; its policy seed is a N(0, 1) vector embedded as a first token.
"""

from __future__ import annotations

from typing import Any

from agents.baselines.grid import PathExplorer, all_paths
from agents.tasks.base import Baseline, Task

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
    }  # fmt: skip

    def sizes(self, visited_map: bool = False) -> dict[str, Any]:
        """Token features (with or without the visited map), 4 action logits, all steps."""
        dynamics = self.env.dynamics
        return {
            "input_dim": self.make_player(visited_map=visited_map).input_dim,
            "output_dim": N_ACTIONS,
            "max_len": dynamics.horizon * dynamics.n_phases,
        }

    def make_player(self, **options: Any) -> Any:
        """How a model explores the env in the evolution pipeline (``visited_map`` option)."""
        from agents.tasks.grid.player import GridPlayer

        return GridPlayer(self.env, **options)

    def baselines(self) -> list[Baseline]:
        """The serpentine sweep (deterministic) and one of 4 sweeps chosen by the seed."""
        paths = all_paths(self.size)
        return [
            Baseline("serpentine sweep", lambda seed: PathExplorer(paths[:1], seed), False),
            Baseline("one of 4 sweeps by seed", lambda seed: PathExplorer(paths, seed), True),
        ]

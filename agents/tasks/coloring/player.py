"""How a transformer plays `GraphColoring-v0`, and the vertex tokens it shares with the task.

Vertex tokens are one-hot ids (`vertex_tokens`; the supervised task uses the same function);
the adjacency is the attention mask, so a vertex sees only its neighbours (and itself through
the residual stream); every vertex takes the argmax of its color logits, all in one step.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from randgym.envs.graph_coloring.core import ColoringState
from randgym.envs.graph_coloring.env import GraphColoringEnv


def vertex_tokens(n: int, n_vertices: int) -> Tensor:
    """The tokens (n, N, N) float32 of n graphs: vertex v is the one-hot id e_v."""
    return torch.eye(n_vertices).expand(n, n_vertices, n_vertices)


class ColoringPlayer:
    """Colors every vertex of a graph at once (a `Player` of `agents.evolution.engine`).

    Args:
        env: The (unwrapped) coloring env; its vertices and colors set the sizes.
    """

    one_shot = True
    max_return = 1.0  # reward 1 for a proper coloring

    def __init__(self, env: GraphColoringEnv) -> None:
        self.n_vertices, self.n_colors = env.dynamics.n_vertices, env.n_colors

    @property
    def input_dim(self) -> int:
        """Features per token: the one-hot vertex id."""
        return self.n_vertices

    @property
    def output_dim(self) -> int:
        """One logit per color."""
        return self.n_colors

    @property
    def length(self) -> int:
        """Tokens of a sequence: one per vertex."""
        return self.n_vertices

    def tokens(self, obs: dict[str, np.ndarray], dtype: torch.dtype = torch.float32) -> Tensor:
        """Token sequences (n, N, N) of observations (as `ColoringDynamics.observe`)."""
        return vertex_tokens(len(obs["adjacency"]), self.n_vertices).to(dtype)

    def mask(self, obs: dict[str, np.ndarray]) -> Tensor:
        """The adjacency (n, N, N) bool: a vertex attends to its neighbours."""
        return torch.from_numpy(obs["adjacency"] != 0)

    def actions(self, logits: Tensor) -> np.ndarray:
        """The argmax coloring (..., N) of logits (..., N, n_colors)."""
        return logits.argmax(dim=-1).numpy()

    def trace(
        self, before: ColoringState, after: ColoringState, rows: np.ndarray, info: dict
    ) -> dict[str, np.ndarray]:
        """The colorings played (n, N)."""
        del before, rows, info
        return {"colorings": after.coloring.copy()}

"""`RandAlg/GraphColoring-v0`: color the vertices of a graph so no edge is monochromatic."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from randgym.envs.graph_coloring.core import ColoringDynamics, ColoringState, conflicting_edges
from randgym.envs.graph_coloring.cycles import cycle_orders
from randgym.envs.graph_coloring.generator import make_generator
from randgym.envs.limits import COLORING_MAX_COLORS
from randgym.envs.rendering import WHITE, color_of, upscale
from randgym.envs.task_env import TaskEnv
from randgym.envs.validation import check_int

EDGE = (30, 30, 30)  # an edge of the adjacency picture
CONFLICT = (255, 0, 255)  # a monochromatic edge


class GraphColoringEnv(TaskEnv):
    """One-shot coloring of a graph, by default 3-coloring a cycle (paper section 3.3).

    ## Description
    The instance is a graph on `n_vertices` labelled vertices, by default a Hamiltonian cycle
    drawn uniformly among all (N-1)!/2 of them (a random relabelling of the canonical cycle).
    The agent sees the adjacency matrix and colors every vertex in a single step. In the
    paper each vertex only sees its neighbours, so a deterministic rule is beaten by an
    adversary that picks the labelling; a randomized one is not.

    ## Action Space
    `MultiDiscrete([n_colors] * n_vertices)`: the color of each vertex.

    ## Observation Space
    A `Dict` with `adjacency` (`MultiBinary((n_vertices, n_vertices))`, int8, symmetric with a
    zero diagonal): `adjacency[u, v] = 1` iff `u` and `v` are joined by an edge.

    ## Rewards
    1 if the coloring is proper (no edge joins two vertices of the same color), else 0.
    `info["conflicts"]` is the number of monochromatic edges.

    ## Starting State
    The graph from `options["instance"]` (an adjacency matrix, validated for the family), or
    one drawn from the family: uniform over the cycles for `"cycle"`, each edge independently
    with probability `edge_prob` for `"erdos_renyi"`.

    ## Episode End
    Terminates after the single step; it is never truncated.

    ## Arguments
    `n_vertices=10` (3 to 256), `n_colors=3` (2 to 256), `family="cycle"` (or
    `"erdos_renyi"`), `edge_prob=0.5` (in (0, 1], used by `"erdos_renyi"`), `render_mode`
    (`"ansi"` or `"rgb_array"`). A value outside its range raises ValueError before anything
    is allocated.
    `gym.make_vec` also takes `num_envs`: 1 to 1,000,000, with at most 256 MiB of observations
    in the batch.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        n_vertices: int = 10,
        n_colors: int = 3,
        family: str = "cycle",
        edge_prob: float = 0.5,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(render_mode)
        self.n_colors = check_int("n_colors", n_colors, 2, COLORING_MAX_COLORS)
        self.generator = make_generator(family, n_vertices, edge_prob)
        n = self.generator.n_vertices
        self.dynamics = ColoringDynamics(n_vertices=n)
        self.observation_space = spaces.Dict({"adjacency": spaces.MultiBinary((n, n))})
        self.action_space = spaces.MultiDiscrete([self.n_colors] * n)

    def render_text(self, state: ColoringState, index: int) -> str:
        """The cycle order (if the graph is one), each vertex's neighbours and color, conflicts."""
        adjacency, coloring = state.adjacency[index], state.coloring[index]
        orders, is_cycle = cycle_orders(adjacency[None])
        lines = [f"cycle {' '.join(map(str, orders[0]))} 0"] if is_cycle[0] else []
        for vertex, row in enumerate(adjacency):
            neighbours = " ".join(map(str, np.flatnonzero(row))) or "-"
            color = f"color {coloring[vertex]}" if coloring[vertex] >= 0 else "uncolored"
            lines.append(f"vertex {vertex}: {color}, neighbours {neighbours}")
        if state.done[index]:
            edges = [f"{u}-{v}" for u, v in conflicting_edges(adjacency, coloring)]
            lines.append(f"conflicts {len(edges)}: {' '.join(edges) or 'none, proper coloring'}")
        return "\n".join(lines) + "\n"

    def render_rgb(self, state: ColoringState, index: int) -> np.ndarray:
        """The adjacency matrix: edges dark, monochromatic ones magenta, rows tinted by color."""
        adjacency, coloring = state.adjacency[index], state.coloring[index]
        cells = np.full(adjacency.shape + (3,), WHITE, dtype=np.uint8)
        for vertex in np.flatnonzero(coloring >= 0):
            tint = (np.asarray(WHITE) + color_of(int(coloring[vertex]))) // 2
            cells[vertex] = tint.astype(np.uint8)
        cells[adjacency != 0] = EDGE
        if state.done[index]:
            for u, v in conflicting_edges(adjacency, coloring):
                cells[u, v] = cells[v, u] = CONFLICT
        return upscale(cells)

"""The matmul FLOPs a training step of a SeededTransformer must do: the work that counts.

A dense implementation also computes things no output reads: attention scores of masked
(query, key) pairs and, when only some positions are read (recall reads the last one), the
last layer's queries, projections and MLP and the head at the other positions. The count
here leaves those out, so that a fraction of the matmul peak says how well the model's own
work uses the machine, whatever path computes it. A multiply-add is 2 FLOPs; the backward
pass costs twice the forward, less the gradient of the raw inputs, which nobody needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.models.transformer import TransformerConfig


@dataclass(frozen=True)
class Workload:
    """What one sequence of a step needs: its length, attended pairs and read positions."""

    length: int  # input tokens L (a prefix_normal seed token comes on top)
    pairs: int  # allowed (query, key) pairs of a layer, e.g. L (L + 1) / 2 when causal
    read: int  # positions whose outputs the loss reads
    read_pairs: int  # allowed pairs whose query is a read position


def forward_flops(config: TransformerConfig, work: Workload) -> int:
    """Matmul FLOPs of one forward pass of one (input, seed) sequence."""
    width, tokens = config.width, work.length + config.n_prefix
    heads = config.n_heads * config.key_size  # features per q, k or v
    embed = 2 * (config.input_dim + config.concat_seed_dim) * width * work.length
    embed += 2 * config.seed_dim * width * config.n_prefix
    embed += 2 * width * width * tokens * config.embed_mlp
    per_query = 2 * heads * width + 2 * heads * width + 16 * width * width * config.mlp
    block = 2 * 2 * heads * width * tokens + 4 * heads * work.pairs + per_query * tokens
    last = 2 * 2 * heads * width * tokens + 4 * heads * work.read_pairs + per_query * work.read
    head = 2 * width * config.output_dim * work.read
    return embed + (config.n_layers - 1) * block + last + head


def step_flops(config: TransformerConfig, work: Workload, sequences: int) -> int:
    """Matmul FLOPs of the forward and backward passes of ``sequences`` sequences."""
    inputs = 2 * (config.input_dim + config.concat_seed_dim) * config.width * work.length
    inputs += 2 * config.seed_dim * config.width * config.n_prefix
    return sequences * (3 * forward_flops(config, work) - inputs)

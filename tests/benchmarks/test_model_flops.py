from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from agents.models.transformer import SeededTransformer, TransformerConfig
from benchmarks.model_flops import Workload, forward_flops, step_flops


@pytest.mark.parametrize("fields", [{}, {"mlp": True, "embed_mlp": True, "n_heads": 2}])
def test_a_dense_step_that_reads_everything_does_exactly_the_counted_work(fields):
    config = TransformerConfig(
        input_dim=5, output_dim=3, width=8, key_size=4, mask="none",
        seed_mode="per_token_uniform", seed_dim=2, max_len=6, **fields,
    )  # fmt: skip
    model = SeededTransformer(config, torch.Generator().manual_seed(0))
    x = torch.randn(1, 6, 5)
    seed = model.sample_policy_seed(1, torch.Generator().manual_seed(1), length=6)
    with FlopCounterMode(display=False) as counter:
        model(x, seed).square().sum().backward()
    work = Workload(length=6, pairs=36, read=6, read_pairs=36)
    assert step_flops(config, work, sequences=1) == counter.get_total_flops()


def test_masked_pairs_and_unread_positions_are_not_counted():
    config = TransformerConfig(input_dim=5, output_dim=3, width=8, key_size=4)
    dense = Workload(length=6, pairs=36, read=6, read_pairs=36)
    causal_last = Workload(length=6, pairs=21, read=1, read_pairs=6)
    saved = forward_flops(config, dense) - forward_flops(config, causal_last)
    attention = 4 * 4 * (36 - 21) + 4 * 4 * (36 - 6)  # 4 * key size FLOPs per pair
    last_queries = 5 * (2 * 4 * 8 + 2 * 4 * 8 + 2 * 8 * 3)  # q, projection, head
    assert saved == attention + last_queries
    assert step_flops(config, causal_last, 10) == 10 * step_flops(config, causal_last, 1)

from __future__ import annotations

import pytest
import torch

from agents.models.population import flatten_parameters, unflatten_parameters
from agents.models.transformer import SeededTransformer, TransformerConfig
from benchmarks.memory_bandwidth import copy_gbs
from benchmarks.rollout import CountingDecoder, Tally


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_counted_state_bytes_are_the_cache_a_step_reads(attention):
    config = TransformerConfig(
        input_dim=5, output_dim=3, width=8, n_layers=2, n_heads=2, key_size=4, max_len=6,
        attention=attention, mask="causal", seed_mode="prefix_normal", seed_dim=3,
    )  # fmt: skip
    model = SeededTransformer(config, torch.Generator().manual_seed(0))
    weights = unflatten_parameters(model, flatten_parameters(model)[None])
    tally = Tally(flops_at=[0.0] * (config.max_len + 1))
    decoder = CountingDecoder(tally, model, weights, config.max_len)
    decoder.start(model.sample_policy_seed(2, torch.Generator().manual_seed(1)), n_instances=3)
    for _ in range(3):
        decoder.step(torch.randn(1, 6, 5))
    # the bytes of one sequence's state that the next step reads: softmax, the keys and values
    # of every position written so far and the next; linear, its state, read and written
    slot = [state[..., :1] for layer in decoder.caches for state in layer]
    if attention == "softmax":
        expected = sum(state[:, :, : decoder.position + 1].nbytes for state in slot)
    else:
        expected = 2 * sum(state.nbytes for state in slot)
    assert decoder.state_bytes() == expected
    before = tally.state_bytes
    decoder.step(torch.randn(1, 6, 5))
    assert tally.state_bytes - before == 6 * expected  # 6 slots of one member


def test_copy_bandwidth_is_measured_and_threads_restored():
    threads = torch.get_num_threads()
    assert copy_gbs(threads=1, megabytes=8, repeats=2) > 0
    assert torch.get_num_threads() == threads

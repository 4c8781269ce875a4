"""The fused population decoder equals each candidate's own `SeededTransformer.step`."""

from __future__ import annotations

import pytest
import torch

from agents.evolution import decoder as decoder_module
from agents.evolution.decoder import PopulationDecoder
from agents.models.memory import MemoryConfig, MemoryProcessor
from agents.models.population import flatten_parameters, unflatten_parameters
from agents.models.transformer import SeededTransformer, TransformerConfig

BASE = dict(input_dim=5, output_dim=3, width=12, n_layers=2, n_heads=2, key_size=3, max_len=6)
VARIANTS = [
    dict(attention="softmax", mlp=True, layer_norm=True, positional="sinusoidal"),
    dict(attention="linear", mlp=True, layer_norm=True, positional="sinusoidal"),
    dict(attention="softmax", mlp=False, layer_norm=False, positional="learned", embed_mlp=True),
    dict(attention="linear", mlp=False, layer_norm=True, positional="none"),
    dict(attention="softmax", mlp=True, layer_norm=False, seed_mode="none", seed_dim=0),
]
N_MEMBERS, N_INSTANCES, N_SEEDS = 3, 2, 2


def members(config: TransformerConfig) -> tuple[SeededTransformer, torch.Tensor]:
    """A float64 model and 3 random parameter vectors (LayerNorm gains and shifts included)."""
    model = SeededTransformer(config, torch.Generator().manual_seed(0)).double()
    center = flatten_parameters(model)
    noise = torch.randn(N_MEMBERS, center.numel(), generator=torch.Generator().manual_seed(1))
    return model, center + 0.5 * noise.double()


def own_model(model: SeededTransformer, params: torch.Tensor) -> SeededTransformer:
    copy = SeededTransformer(model.config).double()
    copy.load_state_dict(unflatten_parameters(copy, params))
    return copy


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("block_state", [1, 2**20])  # one candidate at a time, or all at once
def test_decoder_steps_equal_each_members_step(variant, block_state, monkeypatch):
    monkeypatch.setattr(decoder_module, "BLOCK_STATE_ELEMENTS", block_state)
    config = TransformerConfig(**{"seed_mode": "prefix_normal", "seed_dim": 4, **BASE, **variant})
    model, params = members(config)
    seeds = model.sample_policy_seed(N_SEEDS, torch.Generator().manual_seed(2))
    length = 5
    tokens = torch.randn(length, N_MEMBERS, N_INSTANCES, N_SEEDS, config.input_dim).double()
    decoder = PopulationDecoder(model, unflatten_parameters(model, params), length)
    decoder.start(seeds, N_INSTANCES)
    fused = [decoder.step(token.flatten(1, 2)) for token in tokens]  # each (P, I * M, 3)
    for member in range(N_MEMBERS):
        single = own_model(model, params[member])
        cache = single.init_cache(N_INSTANCES, seeds)
        for position, token in enumerate(tokens):
            logits, cache = single.step(token[member], cache)  # (I, M, 3)
            expected = logits.flatten(0, 1)
            torch.testing.assert_close(fused[position][member], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_copied_slots_decode_as_their_sources_and_the_first_w_slots_step_alone(attention):
    variant = {**VARIANTS[0], "attention": attention, "seed_mode": "prefix_normal"}
    config = TransformerConfig(**BASE, **variant, seed_dim=4)
    model, params = members(config)
    seeds = model.sample_policy_seed(N_SEEDS, torch.Generator().manual_seed(2))
    tokens = torch.randn(3, N_MEMBERS, N_INSTANCES * N_SEEDS, config.input_dim).double()
    weights = unflatten_parameters(model, params)
    whole, copied = (PopulationDecoder(model, weights, 3) for _ in range(2))
    for decoder in (whole, copied):
        decoder.start(seeds, N_INSTANCES)
        decoder.step(tokens[0])
    source = torch.tensor([[3, 3], [0, 0], [2, 1]])  # (P, F): a repeated pair pads a member
    target = torch.tensor([[0, 0], [2, 2], [0, 3]])
    copied.copy_slots(source, target)
    origin = torch.arange(4).repeat(N_MEMBERS, 1).scatter(1, target, source)  # (P, 4)
    for token in tokens[1:]:
        expected = whole.step(token)  # slots of `copied` decode as their origins in `whole`
        got = copied.step(torch.take_along_dim(token, origin[..., None], dim=1)[:, :3])
        want = torch.take_along_dim(expected, origin[..., None], dim=1)[:, :3]
        torch.testing.assert_close(got, want)


def test_decoder_refuses_what_it_cannot_decode():
    model = SeededTransformer(TransformerConfig(**BASE, seed_mode="shared_bits"))
    weights = unflatten_parameters(model, flatten_parameters(model)[None])
    with pytest.raises(ValueError, match="seed_mode='shared_bits'"):
        PopulationDecoder(model, weights, 3)
    model = SeededTransformer(TransformerConfig(**BASE, seed_mode="none", seed_dim=0))
    weights = unflatten_parameters(model, flatten_parameters(model)[None])
    with pytest.raises(ValueError, match="length=7"):
        PopulationDecoder(model, weights, 7)
    decoder = PopulationDecoder(model, weights, 1)
    decoder.start(torch.empty(1, 0), 1)
    decoder.step(torch.zeros(1, 1, BASE["input_dim"]))
    with pytest.raises(ValueError, match="beyond 1 positions"):
        decoder.step(torch.zeros(1, 1, BASE["input_dim"]))
    memory = MemoryProcessor(MemoryConfig(**BASE, memory_rounds=2))
    weights = unflatten_parameters(memory, flatten_parameters(memory)[None])
    with pytest.raises(ValueError, match="decode it with VmapDecoder"):
        PopulationDecoder(memory, weights, 3)

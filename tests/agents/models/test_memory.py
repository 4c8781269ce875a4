from __future__ import annotations

import pytest
import torch

from agents.models.memory import MemoryConfig, MemoryProcessor, build_model
from agents.models.population import (
    flatten_parameters,
    functional_method_call,
    unflatten_parameters,
)
from agents.models.transformer import (
    SEED_MODES,
    SeededTransformer,
    TransformerConfig,
    in_cycle_order,
)
from agents.runs.checkpoint import load_model, save_model
from randgym.envs.graph_coloring import adjacency_from_orders

SMALL = {"input_dim": 3, "output_dim": 2, "width": 8, "n_layers": 2, "key_size": 4, "max_len": 6}


def fields(seed_mode: str = "shared_bits", **overrides) -> dict:
    seed_dim = 0 if seed_mode == "none" else 2
    return {**SMALL, "seed_mode": seed_mode, "seed_dim": seed_dim, **overrides}


def memory(rounds: int, seed_mode: str = "shared_bits", **overrides) -> MemoryProcessor:
    config = MemoryConfig(**fields(seed_mode, **overrides), memory_rounds=rounds, idea_dim=3)
    return MemoryProcessor(config, torch.Generator().manual_seed(0)).double()


def inputs(model: SeededTransformer, length: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(4, length, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return x, model.sample_policy_seed(3, torch.Generator().manual_seed(2), length)


@pytest.mark.parametrize("seed_mode", SEED_MODES)
@pytest.mark.parametrize("overrides", [{}, {"mlp": True, "layer_norm": True, "mask": "none"}])
def test_one_round_is_the_seeded_transformer_of_the_same_weights(seed_mode, overrides):
    model = memory(1, seed_mode, **overrides)
    plain = SeededTransformer(TransformerConfig(**fields(seed_mode, **overrides)))
    plain.load_state_dict(model.state_dict(), strict=False)  # the memory's weights are extra
    plain.double()
    x, seed = inputs(model)
    mask = torch.rand(4, 5, 5, generator=torch.Generator().manual_seed(3)) < 0.7
    assert torch.equal(model(x, seed, mask), plain(x, seed, mask))
    ids, vocab = torch.tensor([[0, 1, 2, 1, 0]]), x[0, :3]
    torch.testing.assert_close(
        model.forward_last(ids, vocab, seed), plain(vocab[ids], seed)[:, :, -1]
    )


def test_cycle_logits_run_every_round():
    model = memory(3, "per_token_uniform", mask="none")
    x, seed = inputs(model)
    order = torch.tensor([[0, 2, 4, 1, 3], [4, 3, 2, 1, 0]])
    adjacency = torch.from_numpy(adjacency_from_orders(order.numpy()) != 0)
    assert not model.rings
    torch.testing.assert_close(
        model.forward_cycle(order, x[0], seed),
        in_cycle_order(model(x[0].expand(2, 5, 3), seed, adjacency), order),
    )


def test_one_round_has_the_plain_models_initial_weights():
    model = memory(1, mlp=True)
    plain = SeededTransformer(
        TransformerConfig(**fields(mlp=True)), torch.Generator().manual_seed(0)
    )
    for name, value in plain.state_dict().items():
        assert torch.equal(model.state_dict()[name].float(), value), name


@pytest.mark.parametrize("seed_mode", SEED_MODES)
def test_round_t_never_reads_later_ideas(seed_mode):
    rounds = 4
    model = memory(rounds, seed_mode, mlp=True, layer_norm=True)
    x, seed = inputs(model)
    _, own = model.run(x, seed)  # (B, S, T, P, k)
    assert torch.equal(model.run(x, seed, forced_ideas=own)[1], own)  # teacher forcing
    for t in range(rounds - 1):  # perturb the ideas of rounds t+1 .. T (1-based)
        forced = own.clone()
        forced[:, :, t:] += torch.randn_like(forced[:, :, t:])
        _, ideas = model.run(x, seed, forced_ideas=forced)
        assert torch.equal(ideas[:, :, : t + 1], own[:, :, : t + 1])  # rounds 1 .. t+1
        assert not torch.allclose(ideas[:, :, t + 1], own[:, :, t + 1])  # round t+2 reads it


def test_without_reading_the_memory_the_rounds_are_the_shared_blocks_stacked():
    model = memory(3, "prefix_normal", mlp=True, layer_norm=True, read_memory=False)
    deep = SeededTransformer(TransformerConfig(**fields("prefix_normal", mlp=True,
                                                        layer_norm=True, n_layers=6)))  # fmt: skip
    state = model.state_dict()
    for name, value in list(state.items()):
        if name.startswith("blocks."):
            _, index, rest = name.split(".", 2)
            for t in (1, 2):
                state[f"blocks.{int(index) + 2 * t}.{rest}"] = value
    deep.load_state_dict(state, strict=False)
    x, seed = inputs(model)
    torch.testing.assert_close(model(x, seed), deep.double()(x, seed))


def test_memory_keeps_a_causal_mask_causal():
    model = memory(3, mask="causal", mlp=True)
    x, seed = inputs(model)
    changed = x.clone()
    changed[:, 3:] += 1.0
    before, after = model(x, seed), model(changed, seed)
    assert torch.equal(before[:, :, :3], after[:, :, :3])
    assert not torch.allclose(before[:, :, 3:], after[:, :, 3:])


@pytest.mark.parametrize("seed_mode", SEED_MODES)
def test_every_seed_mode_runs_every_round(seed_mode):
    model = memory(3, seed_mode)
    x, seed = inputs(model)
    assert model(x, seed).shape == (4, 3, 5, 2)
    assert model.ideas(x, seed).shape == (4, 3, 3, 5, 3)  # (B, S, T, L, k)
    assert torch.isfinite(model.ideas(x, seed)).all()


def test_config_is_validated_and_built():
    with pytest.raises(ValueError, match="memory_rounds=0"):
        MemoryConfig(**SMALL, memory_rounds=0)
    with pytest.raises(ValueError, match="idea_dim"):
        MemoryConfig(**SMALL, idea_dim=0)
    assert type(build_model(MemoryConfig(**SMALL))) is MemoryProcessor
    assert type(build_model(TransformerConfig(**SMALL))) is SeededTransformer


def test_checkpoint_round_trip(tmp_path):
    model = memory(3, "per_token_uniform", mlp=True).float()
    save_model(tmp_path / "model.pt", model, {"note": "memory"})
    loaded, extra, metadata = load_model(tmp_path / "model.pt", model.config)
    assert type(loaded) is MemoryProcessor and loaded.config == model.config
    assert extra == {} and metadata["model"]["memory_rounds"] == 3
    x, seed = inputs(model)
    assert torch.equal(loaded(x.float(), seed.float()), model(x.float(), seed.float()))


def decode(model: SeededTransformer, x: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Logits (B, S, L, output_dim) of x decoded a token at a time by ``init_cache`` / ``step``."""
    cache, logits = model.init_cache(x.shape[0], seed), []
    for token in x.unbind(-2):
        step_logits, cache = model.step(token.unsqueeze(-2).expand(-1, len(seed), -1), cache)
        logits.append(step_logits)
    return torch.stack(logits, dim=-2)


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("rounds", [1, 2, 3])
@pytest.mark.parametrize("read_memory", [True, False])
@pytest.mark.parametrize("seed_mode", ["prefix_normal", "per_token_uniform"])
def test_stepwise_decoding_equals_forward(attention, rounds, read_memory, seed_mode):
    model = memory(rounds, seed_mode, attention=attention, n_heads=2, mlp=True,
                   layer_norm=True, positional="learned", read_memory=read_memory)  # fmt: skip
    x, seed = inputs(model)
    torch.testing.assert_close(decode(model, x, seed), model(x, seed))


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_one_round_steps_as_the_seeded_transformer(attention):
    model = memory(1, "prefix_normal", attention=attention, mlp=True, layer_norm=True)
    plain = SeededTransformer(TransformerConfig(**fields("prefix_normal", attention=attention,
                                                         mlp=True, layer_norm=True)))  # fmt: skip
    plain.load_state_dict(model.state_dict(), strict=False)
    x, seed = inputs(model)
    assert torch.equal(decode(model, x, seed), decode(plain.double(), x, seed))


def test_a_step_reads_the_memory():
    x, seed = inputs(memory(2, "prefix_normal"))
    remembering = memory(2, "prefix_normal", mlp=True)
    forgetting = memory(2, "prefix_normal", mlp=True, read_memory=False)
    assert not torch.allclose(decode(remembering, x, seed), decode(forgetting, x, seed))


def test_stepwise_decoding_needs_a_causal_mask():
    model = memory(2, mask="none")
    with pytest.raises(ValueError, match="incremental decoding needs 'causal'"):
        model.init_cache(1, inputs(model)[1])


def test_a_stacked_population_runs_under_vmap_as_each_model_alone():
    # the evolution engine plays one-shot tasks this way (functional_call + vmap over members)
    model = memory(3, "per_token_uniform", mlp=True, layer_norm=True)
    other = memory(3, "per_token_uniform", mlp=True, layer_norm=True)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(0.1)
    params = torch.stack([flatten_parameters(model), flatten_parameters(other)])
    x, seed = inputs(model)

    def forward(flat):
        weights = unflatten_parameters(model, flat)
        return functional_method_call(model, weights, "forward", (x, seed, None))

    together = torch.vmap(forward)(params)
    torch.testing.assert_close(together[0], model(x, seed))
    torch.testing.assert_close(together[1], other(x, seed))

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call, vmap

from agents.models.population import (
    flatten_parameters,
    functional_method_call,
    parameter_count,
    unflatten_parameters,
)
from agents.models.transformer import SeededTransformer, TransformerConfig, in_cycle_order
from agents.tasks import ColoringTask, GridTask, RecallTask
from randgym.envs.graph_coloring import adjacency_from_orders

SMALL = {"input_dim": 3, "output_dim": 2, "width": 8, "n_layers": 2, "key_size": 4, "max_len": 6}


def make(seed: int = 0, dtype: torch.dtype = torch.float64, **fields) -> SeededTransformer:
    config = TransformerConfig(**{**SMALL, **fields})
    return SeededTransformer(config, torch.Generator().manual_seed(seed)).to(dtype)


def gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- config and presets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("attention", "flash", ["'flash'", "linear", "softmax"]),
        ("positional", "rope", ["'rope'", "learned"]),
        ("mask", "banded", ["'banded'", "causal"]),
        ("seed_mode", "seed", ["'seed'", "shared_bits"]),
        ("width", 0, ["width=0", ">= 1"]),
        ("n_heads", 1.5, ["n_heads=1.5"]),
        ("mlp", 1, ["mlp=1", "bool"]),
        ("seed_dim", 0, ["seed_dim=0"]),
    ],
)
def test_bad_config_values_raise_naming_the_value(field, value, words):
    with pytest.raises(ValueError) as error:
        TransformerConfig(**{**SMALL, field: value})
    for word in words:
        assert word in str(error.value)


def test_presets_match_the_paper_tables():
    recall = RecallTask(15).model_config()
    assert (recall.input_dim, recall.output_dim, recall.width, recall.key_size) == (20, 5, 40, 5)
    assert (recall.attention, recall.seed_mode, recall.seed_dim) == ("linear", "shared_bits", 10)
    assert recall.embed_mlp and not (recall.mlp or recall.layer_norm)
    col = ColoringTask(10).model_config()
    assert (col.input_dim, col.width, col.key_size, col.output_dim) == (10, 16, 16, 3)
    assert (col.mask, col.seed_mode, col.seed_dim) == ("none", "per_token_uniform", 1)
    grid = GridTask().model_config(positional="learned")
    assert (grid.n_heads, grid.key_size, grid.width, grid.attention) == (4, 10, 80, "softmax")
    assert grid.mlp and grid.layer_norm and grid.seed_mode == "prefix_normal"
    assert grid.positional == "learned"
    # about the 4.1-4.6k parameters of the paper code (ours has a bias on every linear layer)
    assert 4000 < parameter_count(SeededTransformer(recall, gen())) < 5000


def test_unknown_preset_and_fields_raise():
    with pytest.raises(ValueError, match="'maze'"):
        RecallTask(5).model_config("maze")
    with pytest.raises(ValueError, match="depth"):
        RecallTask(5).model_config(depth=3)
    with pytest.raises(ValueError, match="n_pairs=0"):
        RecallTask(0)


# --- policy seeds -----------------------------------------------------------------------------


def test_init_and_policy_seeds_use_only_the_given_generator():
    global_state = torch.random.get_rng_state()
    bits = make(seed_mode="shared_bits", seed_dim=5).sample_policy_seed(4, gen())
    assert bits.shape == (4, 5) and set(bits.unique().tolist()) <= {0.0, 1.0}
    uniform = make(seed_mode="per_token_uniform", seed_dim=2).sample_policy_seed(4, gen(), 6)
    assert uniform.shape == (4, 6, 2) and 0 <= uniform.min() and uniform.max() <= 1
    normal = make(seed_mode="prefix_normal", seed_dim=7).sample_policy_seed(4, gen())
    assert normal.shape == (4, 7) and normal.dtype == torch.float64
    assert make(seed_mode="none").sample_policy_seed(3, gen()).shape == (3, 0)
    assert torch.equal(torch.random.get_rng_state(), global_state)
    again = make(seed_mode="prefix_normal", seed_dim=7).sample_policy_seed(4, gen())
    assert torch.equal(normal, again)
    with pytest.raises(ValueError, match="length"):
        make(seed_mode="per_token_uniform").sample_policy_seed(2, gen())


@pytest.mark.parametrize("mode", ["shared_bits", "per_token_uniform", "prefix_normal"])
def test_a_seed_pool_draws_its_fixed_seeds_uniformly(mode):
    model = make(seed_mode=mode, seed_dim=16, seed_pool=4)  # distinct rows
    pool = model.policy_seed_pool
    assert pool.shape[0] == 4 and pool.dtype == torch.float64
    other = make(seed=9, seed_mode=mode, seed_dim=16, seed_pool=4)
    assert torch.equal(pool, other.policy_seed_pool)
    assert "policy_seed_pool" not in model.state_dict()  # rebuilt from the config
    seeds = model.sample_policy_seed(400, gen(), length=6)
    hits = (seeds.flatten(1)[:, None] == pool.flatten(1)[None]).all(dim=2)  # (400, 4)
    assert torch.equal(hits.sum(dim=1), torch.ones(400, dtype=torch.long))  # one pool row each
    assert (hits.sum(dim=0) > 60).all()  # every row is drawn (expected 100 each)
    x = torch.zeros(2, 6, 3, dtype=torch.float64)
    assert model(x, seeds[:5]).shape == (2, 5, 6, 2)


def test_bad_seed_pools_and_stds_are_refused():
    with pytest.raises(ValueError, match="seed_pool=-1"):
        make(seed_pool=-1)
    with pytest.raises(ValueError, match="seed_mode='none'"):
        make(seed_mode="none", seed_dim=0, seed_pool=3)
    for std in (0, -1.0, math.inf, math.nan, True, "2"):
        with pytest.raises(ValueError, match="seed_std"):
            make(seed_mode="prefix_normal", seed_std=std)
    with pytest.raises(ValueError, match="only prefix_normal"):
        make(seed_mode="shared_bits", seed_std=3.0)


def test_seed_std_scales_prefix_normal_seeds():
    wide = make(seed_mode="prefix_normal", seed_dim=8, seed_std=3.0)
    seeds = wide.sample_policy_seed(2000, gen())
    unit = make(seed_mode="prefix_normal", seed_dim=8).sample_policy_seed(2000, gen())
    assert torch.allclose(seeds, 3 * unit)  # the same draws, scaled
    assert 2.8 < seeds.std().item() < 3.2


def test_bad_policy_seed_and_input_shapes_raise():
    model = make(seed_mode="shared_bits", seed_dim=5)
    x = torch.zeros(2, 4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(S, 5\)"):
        model(x, torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="max_len=6"):
        model(torch.zeros(2, 7, 3), model.sample_policy_seed(1, gen()))
    with pytest.raises(ValueError, match="bool"):
        model(x, model.sample_policy_seed(1, gen()), mask=torch.ones(4, 4))


# --- forward ----------------------------------------------------------------------------------

MODES = [
    {"seed_mode": "shared_bits", "seed_dim": 3},
    {"seed_mode": "per_token_uniform", "seed_dim": 1},
    {"seed_mode": "prefix_normal", "seed_dim": 5},
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_all_seeds_in_one_call_equal_one_seed_at_a_time(mode, attention):
    model = make(attention=attention, positional="learned", embed_mlp=True, **mode)
    x = torch.randn(2, 5, 3, generator=gen(), dtype=torch.float64)
    seeds = model.sample_policy_seed(3, gen(2), length=5)
    logits = model(x, seeds)
    assert logits.shape == (2, 3, 5, 2)
    for s in range(3):
        torch.testing.assert_close(logits[:, s], model(x, seeds[s : s + 1])[:, 0])
    assert not torch.allclose(logits[:, 0], logits[:, 1])  # the seed is used


def test_concatenated_seed_equals_an_explicit_concatenation():
    model = make(seed_mode="shared_bits", seed_dim=4, embed_mlp=True)
    x = torch.randn(2, 5, 3, generator=gen(), dtype=torch.float64)
    seeds = model.sample_policy_seed(2, gen(2))
    reference = make(input_dim=7, seed_mode="none", embed_mlp=True)
    reference.load_state_dict(model.state_dict())
    for s in range(2):
        tokens = torch.cat([x, seeds[s].expand(2, 5, 4)], dim=-1)  # (B, L, input_dim + seed_dim)
        expected = reference(tokens, torch.empty(1, 0, dtype=torch.float64))
        torch.testing.assert_close(model(x, seeds)[:, s], expected[:, 0])


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_causal_outputs_ignore_later_tokens(attention):
    model = make(attention=attention, mlp=True, layer_norm=True, positional="sinusoidal")
    x = torch.randn(2, 6, 3, generator=gen(), dtype=torch.float64)
    changed = x.clone()
    changed[:, 4:] += 1.0
    seeds = model.sample_policy_seed(2, gen())
    before, after = model(x, seeds), model(changed, seeds)
    torch.testing.assert_close(before[:, :, :4], after[:, :, :4])
    assert not torch.allclose(before[:, :, 4:], after[:, :, 4:])


def test_linear_attention_is_the_unnormalised_masked_product():
    model = make(n_layers=1, seed_mode="none", mask="none")
    attn = model.blocks[0].attn
    h = torch.randn(2, 5, 8, generator=gen(), dtype=torch.float64)
    mask = torch.rand(5, 5, generator=gen(3)) < 0.5
    q, k, v = attn.qkv(h).split(4, dim=-1)  # one head of key size 4
    expected = attn.proj(((q @ k.transpose(-1, -2)) * mask) @ v)
    torch.testing.assert_close(attn(h, mask), expected)


def test_call_time_mask_limits_who_a_token_sees():
    model = make(n_layers=1, mask="none", seed_mode="per_token_uniform", seed_dim=1)
    adjacency = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]).bool()
    x = torch.randn(2, 4, 3, generator=gen(), dtype=torch.float64)
    seeds = model.sample_policy_seed(2, gen(), length=4)
    changed = x.clone()
    changed[:, 2] += 1.0  # vertex 2 is a neighbour of 1 only
    before, after = model(x, seeds, adjacency), model(changed, seeds, adjacency)
    torch.testing.assert_close(before[:, :, [0, 3]], after[:, :, [0, 3]])
    assert not torch.allclose(before[:, :, 1], after[:, :, 1])
    batched = model(x, seeds, adjacency.expand(2, 4, 4))  # a (B, L, L) mask
    torch.testing.assert_close(batched, before)


@pytest.mark.parametrize(
    "fields",
    [
        {"attention": "softmax", "mlp": True, "layer_norm": True, "positional": "sinusoidal"},
        {"seed_mode": "prefix_normal", "seed_dim": 2, "mlp": True, "positional": "learned"},
    ],
)
def test_logits_at_the_last_position_equal_the_full_forward_there(fields):
    model = make(**fields)
    vocab = torch.randn(7, 3, generator=gen(), dtype=torch.float64)
    ids = torch.randint(0, 7, (4, 5), generator=gen(2))
    seeds = model.sample_policy_seed(2, gen(3), length=5)
    last = model.forward_last(ids, vocab, seeds)
    assert last.shape == (4, 2, 2)
    torch.testing.assert_close(last, model(vocab[ids], seeds)[:, :, -1])


def cycles(n_graphs: int, n_vertices: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random cycle orders (B, N) and their adjacencies (B, N, N) bool."""
    order = torch.stack([torch.randperm(n_vertices, generator=gen(i)) for i in range(n_graphs)])
    return order, torch.from_numpy(adjacency_from_orders(order.numpy()) != 0)


CYCLE = {"mask": "none", "max_len": 7}


@pytest.mark.parametrize(
    ("fields", "rings"),
    [
        ({"seed_mode": "per_token_uniform", "seed_dim": 1}, True),  # the coloring model
        ({"seed_mode": "per_token_uniform", "seed_dim": 1, "attention": "softmax"}, True),
        ({"seed_mode": "shared_bits", "mlp": True, "layer_norm": True, "n_heads": 2}, True),
        ({"seed_mode": "none", "n_layers": 1, "positional": "sinusoidal"}, True),
        ({"seed_mode": "prefix_normal", "seed_dim": 2, "positional": "learned"}, False),
        ({"seed_mode": "none", "mask": "causal"}, False),
    ],
)
@pytest.mark.parametrize("n_graphs", [4, 50])  # 50 > 7 ** 2: the first block runs per triple
def test_cycle_logits_and_gradients_equal_the_forward_masked_by_the_cycle(
    fields, rings, n_graphs, monkeypatch
):
    model = make(**{**CYCLE, **fields})
    assert model.rings == rings  # False: forward_cycle runs the full forward
    first, triples_calls = model.blocks[0], []
    triples = first.triples
    monkeypatch.setattr(first, "triples", lambda h: triples_calls.append(h) or triples(h))
    last, folded_calls = model.blocks[-1], []  # without MLP, the head acts before the mixing
    head_features = last.head_features
    monkeypatch.setattr(
        last, "head_features", lambda *a: folded_calls.append(a) or head_features(*a)
    )
    vocab = torch.randn(7, 3, generator=gen(), dtype=torch.float64)
    order, adjacency = cycles(n_graphs, 7)
    seeds = model.sample_policy_seed(3, gen(3), length=7)
    results = []
    for forward in (
        lambda: model.forward_cycle(order, vocab, seeds),
        lambda: in_cycle_order(model(vocab.expand(n_graphs, 7, 3), seeds, mask=adjacency), order),
    ):
        model.zero_grad()
        logits = forward()
        logits.square().sum().backward()
        results.append((logits, [p.grad.clone() for p in model.parameters()]))
    (cycle, cycle_grads), (full, full_grads) = results
    assert cycle.shape == (n_graphs, 3, 7, 2)
    assert len(triples_calls) == (rings and n_graphs > 7**2)  # the paths under test
    blocks_after_triples = model.config.n_layers - len(triples_calls)
    assert len(folded_calls) == (rings and not model.config.mlp and blocks_after_triples > 0)
    torch.testing.assert_close(cycle, full)
    torch.testing.assert_close(cycle_grads, full_grads)


def test_the_head_acts_before_the_mixing_only_after_a_block_without_mlp():
    model = make(**{**CYCLE, "seed_mode": "none", "mlp": True})
    with pytest.raises(ValueError, match="without MLP"):
        model.blocks[-1].head_features(torch.zeros(2, 8, dtype=torch.float64), model.head)


def test_cycle_logits_refuse_bad_orders_and_vocabularies():
    model = make(**{**CYCLE, "seed_mode": "per_token_uniform", "seed_dim": 1})
    vocab, (order, _) = torch.randn(5, 3, dtype=torch.float64), cycles(2, 5)
    seeds = model.sample_policy_seed(2, gen(), length=5)
    with pytest.raises(ValueError, match="permutation"):
        model.forward_cycle(torch.tensor([[0, 1, 2, 3, 3]] * 2), vocab, seeds)
    with pytest.raises(ValueError, match="int64"):
        model.forward_cycle(order.int(), vocab, seeds)
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        model.forward_cycle(order[:, :4], vocab, seeds)
    with pytest.raises(ValueError, match="N >= 3"):
        model.forward_cycle(order[:, :2], vocab[:2], seeds)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model.forward_cycle(order, vocab[:, :2], seeds)


@pytest.mark.parametrize("mask", [None, "adjacency"])
def test_inputs_broadcast_over_the_batch_give_the_outputs_and_gradients_of_copies(mask):
    model = make(mask="none", seed_mode="per_token_uniform", seed_dim=1)
    seeds = model.sample_policy_seed(2, gen(), length=4)
    x = torch.randn(4, 3, generator=gen(), dtype=torch.float64).expand(5, 4, 3)  # stride 0
    adjacency = torch.rand(5, 4, 4, generator=gen(2)) < 0.5 if mask else None
    outputs = []
    for inputs in (x, x.contiguous()):
        model.zero_grad()
        logits = model(inputs, seeds, adjacency)
        logits.square().sum().backward()
        outputs.append((logits, [p.grad.clone() for p in model.parameters()]))
    (broadcast, broadcast_grads), (copies, copies_grads) = outputs
    assert broadcast.shape == copies.shape == (5, 2, 4, 2)
    torch.testing.assert_close(broadcast, copies)
    torch.testing.assert_close(broadcast_grads, copies_grads)


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_a_token_that_sees_nobody_gets_finite_outputs_and_gradients(attention):
    model = make(attention=attention, mask="none", seed_mode="prefix_normal", seed_dim=2)
    isolated = torch.zeros(3, 3, dtype=torch.bool)  # no edges, no self loops
    x = torch.randn(2, 3, 3, generator=gen(), dtype=torch.float64)
    logits = model(x, model.sample_policy_seed(2, gen()), isolated)
    logits.sum().backward()
    assert torch.isfinite(logits).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# --- init -------------------------------------------------------------------------------------


def test_init_is_reproducible_fan_in_and_scales_residual_projections():
    config = TransformerConfig(**{**SMALL, "width": 64, "n_layers": 4, "mlp": True})
    model = SeededTransformer(config, gen(5))
    flat = flatten_parameters(model)
    assert torch.equal(flat, flatten_parameters(SeededTransformer(config, gen(5))))
    assert not torch.equal(flat, flatten_parameters(SeededTransformer(config, gen(6))))
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert not p.any(), name
    fc = model.blocks[0].mlp.fc.weight  # fan-in 64
    assert fc.std().item() == pytest.approx(1 / 8, rel=0.05)
    assert fc.abs().max() <= 2 / 8 / 0.8796 + 1e-6  # truncated at 2 std
    proj = model.blocks[1].mlp.proj.weight  # fan-in 256, scaled by 1 / (2 sqrt(4))
    assert proj.std().item() == pytest.approx(1 / 16 / 4, rel=0.05)
    attn_proj = model.blocks[0].attn.proj.weight  # fan-in 4
    assert attn_proj.std().item() == pytest.approx(1 / 2 / 4, rel=0.1)


# --- incremental decoding ---------------------------------------------------------------------

DECODE_CASES = [
    {"attention": "linear"},
    {"attention": "softmax"},
    {"attention": "linear", "seed_mode": "prefix_normal", "seed_dim": 5, "positional": "learned"},
    {
        "attention": "softmax",
        "seed_mode": "prefix_normal",
        "seed_dim": 5,
        "positional": "sinusoidal",
        "mlp": True,
        "layer_norm": True,
        "n_heads": 2,
    },
    {"attention": "linear", "mlp": True, "layer_norm": True, "embed_mlp": True, "n_heads": 2},
    {"attention": "softmax", "seed_mode": "per_token_uniform", "seed_dim": 2, "embed_mlp": True},
]


def decode(model, x, seeds):
    cache = model.init_cache(x.shape[0], seeds)
    outputs = []
    for t in range(x.shape[1]):
        token = x[:, t, None].expand(-1, seeds.shape[0], -1)  # (B, S, input_dim)
        logits, cache = model.step(token, cache)
        outputs.append(logits)
    return torch.stack(outputs, dim=-2)  # (B, S, L, output_dim)


@pytest.mark.parametrize("case", DECODE_CASES)
def test_token_by_token_decoding_equals_the_full_causal_forward(case):
    model = make(**case)
    x = torch.randn(2, 6, 3, generator=gen(), dtype=torch.float64)
    seeds = model.sample_policy_seed(3, gen(2), length=6)
    torch.testing.assert_close(decode(model, x, seeds), model(x, seeds), rtol=1e-10, atol=1e-10)


def test_decoding_validates_its_inputs():
    model = make(seed_mode="prefix_normal", seed_dim=2)
    seeds = model.sample_policy_seed(2, gen())
    cache = model.init_cache((1,), seeds)
    assert cache.position == 1
    with pytest.raises(ValueError, match="S=2"):
        model.step(torch.zeros(1, 3, 3, dtype=torch.float64), cache)
    for _ in range(6):
        _, cache = model.step(torch.zeros(1, 2, 3, dtype=torch.float64), cache)
    with pytest.raises(ValueError, match="max_len=6"):
        model.step(torch.zeros(1, 2, 3, dtype=torch.float64), cache)
    with pytest.raises(ValueError, match="'none'"):
        make(mask="none").init_cache(1, seeds)


# --- flat parameters, functional_call and vmap ------------------------------------------------


def test_flatten_unflatten_round_trip_with_leading_dims():
    model = make(positional="learned", mlp=True, layer_norm=True)
    flat = flatten_parameters(model)
    assert flat.shape == (parameter_count(model),)
    params = unflatten_parameters(model, flat)
    for name, p in model.named_parameters():
        assert torch.equal(params[name], p)
    stacked = unflatten_parameters(model, flat.expand(4, 3, -1))
    assert stacked["head.weight"].shape == (4, 3, *model.head.weight.shape)
    with pytest.raises(ValueError, match=f"P={flat.numel()}"):
        unflatten_parameters(model, flat[:-1])


def population(model, n=3):
    flat = flatten_parameters(model)
    noise = torch.randn(n, flat.numel(), generator=gen(9), dtype=flat.dtype)
    return flat + 0.1 * noise  # (n, P)


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_vmap_forward_over_a_population_equals_separate_calls(attention):
    model = make(attention=attention, seed_mode="prefix_normal", seed_dim=3, positional="learned")
    flats = population(model)
    x = torch.randn(2, 5, 3, generator=gen(), dtype=torch.float64)
    seeds = model.sample_policy_seed(4, gen())

    def run(flat):
        return functional_call(model, unflatten_parameters(model, flat), (x, seeds))

    batched = vmap(run)(flats)
    assert batched.shape == (3, 2, 4, 5, 2)
    for i in range(3):
        torch.testing.assert_close(batched[i], run(flats[i]))
    assert not torch.allclose(batched[0], batched[1])


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_vmap_step_over_a_population_equals_separate_calls(attention):
    model = make(attention=attention, seed_mode="prefix_normal", seed_dim=3, layer_norm=True)
    params = unflatten_parameters(model, population(model))  # entries (3, *shape)
    seeds = model.sample_policy_seed(2, gen())
    tokens = torch.randn(3, 4, 2, 2, 3, generator=gen(), dtype=torch.float64)  # (pop, L, B, S, d)

    def init(p):
        return functional_method_call(model, p, "init_cache", (2, seeds))

    def step(p, token, cache):
        return functional_method_call(model, p, "step", (token, cache))

    caches = vmap(init)(params)
    separate = [init({k: v[i] for k, v in params.items()}) for i in range(3)]
    for t in range(4):
        logits, caches = vmap(step)(params, tokens[:, t], caches)
        for i in range(3):
            p_i = {k: v[i] for k, v in params.items()}
            expected, separate[i] = step(p_i, tokens[i, t], separate[i])
            torch.testing.assert_close(logits[i], expected)
    assert caches.position == 5


def test_gradients_flow_through_functional_call():
    model = make(seed_mode="shared_bits", seed_dim=3, dtype=torch.float32)
    params = {k: v.detach().requires_grad_() for k, v in model.named_parameters()}
    x = torch.randn(2, 5, 3, generator=gen())
    logits = functional_call(model, params, (x, model.sample_policy_seed(2, gen())))
    logits.square().mean().backward()
    assert all(p.grad is not None and math.isfinite(p.grad.norm()) for p in params.values())

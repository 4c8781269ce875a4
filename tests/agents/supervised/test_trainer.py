from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.models.transformer import SeededTransformer
from agents.supervised.trainer import (
    VARIANTS,
    Diverged,
    TrainConfig,
    Trainer,
    lr_factor,
    run_name,
)
from agents.tasks import ColoringTask, RecallTask

TINY = {"batch_size": 32, "n_seeds": 4, "warmup": 5, "lr": 1e-2, "lr_end": 1e-3}


def make_trainer(variant="q_R", task=None, seed=0, compile=False, **overrides):
    task = task or RecallTask(n_pairs=4, value_bits=3)
    config = TrainConfig.for_task(task, **{**TINY, "variant": variant, **overrides})
    generator = torch.Generator().manual_seed(seed)
    model = SeededTransformer(task.model_config(), generator)
    return Trainer(task, model, config, generator, np.random.default_rng(seed), compile=compile)


def params(trainer):
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("variant", "q_r1", ["'q_r1'", "E_R"]),
        ("q", 0.5, ["q=0.5"]),
        ("n_seeds", 0, ["n_seeds=0"]),
        ("batch_size", 2.0, ["batch_size=2.0"]),
        ("lr_end", 1.0, ["lr_end=1.0"]),
        ("q", math.nan, ["q=nan"]),
        ("lr", math.nan, ["lr=nan", "finite"]),
        ("lr", math.inf, ["lr=inf", "finite"]),
        ("lr", "0.1", ["lr='0.1'"]),
        ("lr_end", math.nan, ["lr_end=nan"]),
        ("lr_end", 0.0, ["lr_end=0.0", "> 0"]),
        ("weight_decay", math.inf, ["weight_decay=inf"]),
        ("weight_decay", -0.1, ["weight_decay=-0.1", ">= 0"]),
        ("adam_eps", math.nan, ["adam_eps=nan"]),
        ("adam_eps", 0.0, ["adam_eps=0.0"]),
        ("clip_norm", math.inf, ["clip_norm=inf"]),
        ("clip_norm", -1.0, ["clip_norm=-1.0"]),
        ("betas", (0.9, 1.0), ["betas=(0.9, 1.0)", "[0, 1)"]),
        ("betas", (math.nan, 0.9), ["betas=(nan, 0.9)"]),
        ("betas", (-0.1, 0.9), ["betas=(-0.1, 0.9)"]),
        ("betas", (0.9,), ["betas=(0.9,)"]),
    ],
)
def test_bad_train_config_values_raise_naming_the_value(field, value, words):
    with pytest.raises(ValueError) as error:
        TrainConfig(**{field: value})
    for word in words:
        assert word in str(error.value)


def test_an_infinite_q_and_a_zero_weight_decay_are_valid():
    config = TrainConfig(q=math.inf, weight_decay=0.0, betas=(0.0, 0.999))
    assert config.effective_q == math.inf


def test_task_defaults_are_the_paper_tables_and_variants_set_q_and_seeds():
    recall = TrainConfig.for_task(RecallTask(4))
    assert (recall.q, recall.n_seeds, recall.batch_size, recall.lr) == (100, 30, 128, 3e-3)
    coloring = TrainConfig.for_task(ColoringTask(4), steps=7)
    assert (coloring.q, coloring.n_seeds, coloring.weight_decay, coloring.steps) == (10, 10, 0.1, 7)
    expected = {"E_r0": (1, True), "q_r0": (100, True), "E_R": (1, False), "q_R": (100, False)}
    for variant in VARIANTS:
        config = TrainConfig(variant=variant, q=100)
        assert (config.effective_q, config.fixed_seed) == expected[variant]
    with pytest.raises(ValueError, match="steps=0"):
        TrainConfig.for_task(RecallTask(4), steps=0)


def test_lr_warms_up_linearly_then_decays_by_cosine_to_lr_end():
    config = TrainConfig(lr=1e-2, lr_end=1e-3, warmup=10, steps=110)
    factors = [lr_factor(step, config) for step in range(config.steps)]
    assert factors[0] == pytest.approx(0.1) and factors[4] == pytest.approx(0.5)
    assert factors[9] == pytest.approx(1.0) and factors[10] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.1)  # lr_end / lr
    assert factors[60] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 50 / 99)))
    assert all(a >= b for a, b in zip(factors[9:], factors[10:], strict=False))


def test_the_learning_rate_used_follows_the_schedule():
    trainer = make_trainer(steps=20)
    used = [trainer.step()["lr"] for _ in range(7)]
    expected = [TINY["lr"] * lr_factor(step, trainer.config) for step in range(7)]
    assert used == pytest.approx(expected)


@pytest.mark.parametrize("task", [RecallTask(n_pairs=4, value_bits=3), ColoringTask(5)])
def test_a_short_training_run_lowers_the_loss(task):
    trainer = make_trainer("E_R", task=task, steps=120, warmup=10)
    losses = [trainer.step()["loss_mean"] for _ in range(120)]
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])
    assert all(np.isfinite(losses))


def test_random_seed_variants_draw_m_fresh_seeds_shared_by_the_batch():
    trainer = make_trainer("q_R")
    seen = []
    logits = trainer.task.logits
    trainer.task.logits = lambda model, batch, policy_seed: (
        seen.append(policy_seed) or logits(model, batch, policy_seed)
    )
    trainer.step(), trainer.step()
    assert [s.shape for s in seen] == [(4, 10), (4, 10)]
    assert not torch.equal(seen[0], seen[1])


def test_fixed_seed_variants_always_use_r0():
    trainer = make_trainer("q_r0")
    seen = []
    logits = trainer.task.logits
    trainer.task.logits = lambda model, batch, policy_seed: (
        seen.append(policy_seed) or logits(model, batch, policy_seed)
    )
    trainer.step(), trainer.step()
    assert seen[0].shape == (1, 10)
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[0], trainer.fixed_policy_seed)


@pytest.mark.parametrize("variant", VARIANTS)
def test_only_random_seed_variants_depend_on_the_seed_stream(variant):
    """Reseeding the trainer's generator after set-up changes R runs, never r0 runs."""
    a, b = make_trainer(variant), make_trainer(variant)
    b.generator.manual_seed(12345)
    for _ in range(3):
        a.step(), b.step()
    assert torch.equal(params(a), params(b)) == variant.endswith("r0")


def test_the_seed_reaches_the_model_of_a_random_seed_variant():
    trainer = make_trainer("E_R")
    trainer.step()
    seed_columns = trainer.model.embed.weight.grad[:, -10:]  # the weights that read the seed
    assert seed_columns.abs().sum() > 0


def test_training_is_reproducible_from_the_generator_and_rng():
    a, b = make_trainer("q_R", seed=3), make_trainer("q_R", seed=3)
    for _ in range(3):
        assert a.step() == b.step()
    assert torch.equal(params(a), params(b))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own internals
@pytest.mark.parametrize("task", [RecallTask(n_pairs=4, value_bits=3), ColoringTask(6)])
def test_a_compiled_trainer_takes_the_same_steps(task):
    # compiled, a coloring step takes SeededTransformer.forward_cycle; eager, the masked forward
    eager, compiled = make_trainer("q_R", task), make_trainer("q_R", task, compile=True)
    for _ in range(3):
        a, b = eager.step(), compiled.step()
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    torch.testing.assert_close(params(eager), params(compiled), rtol=1e-4, atol=1e-5)


def adamw_state(trainer):
    return {
        (name, key): value.clone()
        for name, param in trainer.model.named_parameters()
        for key, value in trainer.optimizer.state[param].items()
    }


def assert_nothing_changed(trainer, before_params, before_adamw, before_lr):
    assert torch.equal(params(trainer), before_params)
    after = adamw_state(trainer)
    assert after.keys() == before_adamw.keys()
    assert all(torch.equal(after[key], before_adamw[key]) for key in before_adamw)
    assert trainer.optimizer.param_groups[0]["lr"] == before_lr
    assert trainer.step_count == 2


def test_a_non_finite_loss_stops_training_before_the_update():
    trainer = make_trainer("q_R", steps=20)
    trainer.step(), trainer.step()
    with torch.no_grad():
        trainer.model.embed.weight[0, 0] = math.inf
    before = params(trainer), adamw_state(trainer), trainer.optimizer.param_groups[0]["lr"]
    with pytest.raises(Diverged, match="step 3: the loss is nan") as error:
        trainer.step()
    assert (error.value.step, error.value.quantity) == (3, "loss")
    assert_nothing_changed(trainer, *before)


def test_a_non_finite_gradient_norm_stops_training_before_the_update():
    """sqrt at 0 has a finite value and an infinite derivative: a NaN gradient, finite loss."""
    trainer = make_trainer("q_R", steps=20)
    trainer.step(), trainer.step()
    loss = trainer.task.loss
    trainer.task.loss = lambda logits, batch: (
        loss(logits, batch) + (logits - logits.detach()).abs().flatten(2).sum(-1).sqrt()
    )
    before = params(trainer), adamw_state(trainer), trainer.optimizer.param_groups[0]["lr"]
    with pytest.raises(Diverged, match="step 3: the gradient norm is nan"):
        trainer.step()
    assert_nothing_changed(trainer, *before)


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("q_R", "recall15_q_R_q100_m30_T4_s2"),
        ("E_R", "recall15_E_R_m30_T4_s2"),
        ("q_r0", "recall15_q_r0_q100_T4_s2"),
        ("E_r0", "recall15_E_r0_T4_s2"),
    ],
)
def test_run_name_names_q_for_q_variants_and_m_for_random_seed_ones(variant, expected):
    assert run_name("recall", 15, variant, 100.0, 30, 2, "_T4") == expected

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.metrics import (
    format_table,
    majority_success,
    plot_histogram,
    report,
    score_instances,
    seed_subsets,
    summarize,
)
from agents.models.transformer import SeededTransformer
from agents.tasks import ColoringTask, RecallTask
from randgym.envs.graph_coloring import adjacency_from_orders


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_summarize_scores_from_below_with_linear_percentiles():
    scores = np.linspace(0, 1, 21)  # 0, 0.05, ..., 1: the 5th percentile sits on 0.05
    assert summarize(scores) == pytest.approx({"average": 0.5, "p95": 0.05, "worst": 0.0})
    # 5th percentile of 10 values: position 0.45 between the two smallest
    scores = np.array([0.2, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert summarize(scores)["p95"] == pytest.approx(0.45 * 0.2)
    assert summarize(scores)["worst"] == 0.0


def test_summarize_losses_from_above():
    losses = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0])
    # 95th percentile: position 8.55, between 1.0 and 3.0
    assert summarize(losses, higher_is_better=False) == pytest.approx(
        {"average": 0.4, "p95": 1.0 + 0.55 * 2.0, "worst": 3.0}
    )
    with pytest.raises(ValueError, match="shape"):
        summarize(np.zeros((2, 2)))


def all_seeds(n_seeds: int) -> torch.Tensor:
    return torch.arange(n_seeds)[None]  # one subset: every seed votes


def test_recall_majority_is_per_bit():
    task = RecallTask(n_pairs=2, value_bits=3)
    batch = {"bits": torch.tensor([[1.0, 1.0, 1.0]])}
    # each seed gets one bit wrong, a different one: every seed fails, the vote is right
    wrong_each = torch.tensor([[[0, 1, 1], [1, 0, 1], [1, 1, 0]]]).bool()
    assert task.correct(wrong_each, batch).float().mean() == 0
    assert majority_success(task, wrong_each, batch, all_seeds(3)).tolist() == [1.0]
    # two subsets: the first votes right, the second wrong
    six = torch.cat([wrong_each, torch.tensor([[[0, 0, 1], [0, 1, 0], [1, 1, 1]]]).bool()], 1)
    subsets = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert majority_success(task, six, batch, subsets).tolist() == [0.5]


def test_random_subsets_estimate_the_probability_that_k_seeds_vote_right():
    task = RecallTask(n_pairs=2, value_bits=2)
    batch = {"bits": torch.tensor([[1.0, 1.0], [1.0, 1.0]])}
    right, wrong = [True, True], [False, False]
    # instance 0: 3 of 4 seeds right, every 3 seeds have a right majority
    # instance 1: 2 of 4 right, 2 of the 4 possible triples have a right majority
    prediction = torch.tensor([[right, right, right, wrong], [right, right, wrong, wrong]])
    subsets = seed_subsets(4, 3, 4000, torch.Generator().manual_seed(0))
    assert subsets.shape == (4000, 3)
    assert all(len(set(row)) == 3 for row in subsets.tolist())  # without replacement
    estimate = majority_success(task, prediction, batch, subsets)
    assert estimate[0] == 1.0 and abs(estimate[1] - 0.5) < 0.03


def test_the_vote_of_all_seeds_is_one_subset():
    task = RecallTask(n_pairs=2, value_bits=2)
    batch = {"bits": torch.tensor([[1.0, 1.0], [1.0, 1.0]])}
    right, wrong = [True, True], [False, False]
    prediction = torch.tensor([[right, right, wrong], [right, wrong, wrong]])
    subsets = seed_subsets(3, 3, 64, torch.Generator().manual_seed(0))
    assert subsets.tolist() == [[0, 1, 2]]
    assert majority_success(task, prediction, batch, subsets).tolist() == [1.0, 0.0]


def test_a_fixed_seed_model_votes_with_copies_of_its_prediction():
    task = RecallTask(n_pairs=2, value_bits=2)
    batch = {"bits": torch.tensor([[1.0, 0.0], [1.0, 1.0]])}
    prediction = torch.tensor([[[1, 0]], [[1, 0]]]).bool()  # (B=2, S=1, d)
    subsets = seed_subsets(1, 5, 64, torch.Generator())
    assert subsets.tolist() == [[0] * 5]
    assert majority_success(task, prediction, batch, subsets).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="k=4"):
        seed_subsets(9, 4, 64, torch.Generator())
    with pytest.raises(ValueError, match="S=3"):
        seed_subsets(3, 5, 64, torch.Generator())


def test_coloring_majority_is_the_mode_of_whole_colorings():
    task = ColoringTask(n_vertices=4)
    batch = task.batch(adjacency_from_orders(np.array([[0, 1, 2, 3]])))  # the cycle 0-1-2-3-0
    good, other_good, bad = [0, 1, 0, 1], [1, 2, 1, 0], [0, 0, 1, 2]
    # subsets of 3: (good, bad, good) -> good; (bad, good, bad) -> bad
    prediction = torch.tensor([[good, bad, good, bad, good, bad]])
    subsets = torch.tensor([[0, 1, 2], [3, 4, 5]])
    assert majority_success(task, prediction, batch, subsets).tolist() == [0.5]
    # every seed proper but all different: the mode (smallest code) is a proper coloring
    prediction = torch.tensor([[good, other_good, [1, 0, 1, 0]]])
    assert majority_success(task, prediction, batch, all_seeds(3)).tolist() == [1.0]


def test_score_instances_agrees_with_direct_computation_in_any_chunking():
    task = RecallTask(n_pairs=4, value_bits=2)
    config = task.model_config()
    model = SeededTransformer(config, torch.Generator().manual_seed(0))
    batch = task.evaluation_set(np.random.default_rng(0), quick=True)
    policy_seed = model.sample_policy_seed(10, torch.Generator().manual_seed(1))
    big = score_instances(task, model, batch, policy_seed, majority=(5,))
    small = score_instances(task, model, batch, policy_seed, chunk=70, majority=(5,))
    for name in big:
        np.testing.assert_allclose(big[name], small[name], rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        logits = task.logits(model, batch, policy_seed)
    success = task.correct(task.predict(logits), batch).double().mean(1).numpy()
    np.testing.assert_allclose(big["success"], success)
    variance = torch.sigmoid(logits).var(dim=1, correction=0).mean(-1).double().numpy()
    np.testing.assert_allclose(big["variance"], variance, rtol=1e-5, atol=1e-9)
    assert set(big) == {"success", "majority_5", "sampled", "loss", "variance"}
    assert all(values.shape == (len(batch["ids"]),) for values in big.values())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own internals
def test_compiled_scoring_equals_eager_on_coloring():
    # compiled, the coloring logits take SeededTransformer.forward_cycle; eager, the masked forward
    task = ColoringTask(n_vertices=5)
    model = SeededTransformer(task.model_config(), torch.Generator().manual_seed(0))
    batch = task.evaluation_set(np.random.default_rng(0))  # all 12 cycles: 2 chunks of 6
    generator = torch.Generator().manual_seed(1)
    policy_seed = model.sample_policy_seed(3, generator, task.policy_seed_length)
    eager = score_instances(task, model, batch, policy_seed, chunk=18, majority=(3,))
    compiled = score_instances(
        task, model, batch, policy_seed, chunk=18, majority=(3,), compile=True
    )
    assert set(compiled) == set(eager) and len(eager["success"]) == 12
    for name in eager:
        np.testing.assert_allclose(compiled[name], eager[name], rtol=1e-5, atol=1e-6)


def test_report_table_and_histogram(tmp_path):
    per_instance = {
        "success": np.array([0.0, 0.5, 1.0, 1.0]),
        "majority_5": np.array([0.0, 1.0, 1.0, 1.0]),
        "loss": np.array([3.0, 1.0, 0.0, 0.0]),
    }
    summary = report(per_instance)
    assert summary["loss"]["worst"] == 3.0 and summary["success"]["worst"] == 0.0
    table = format_table(summary, title="demo")
    assert table.splitlines()[0] == "demo" and "majority_5" in table and "0.6250" in table
    plot_histogram(per_instance, tmp_path / "hist.png", "demo")
    assert (tmp_path / "hist.png").read_bytes()[:4] == b"\x89PNG"

"""The Ray evaluator: the local evaluator's returns bit for bit, through actor deaths and limits."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest
import torch

from agents.evolution.evaluators import LocalEvaluator
from agents.evolution.ray_evaluator import RayEvaluator
from agents.evolution.run import Evolution, EvolveConfig
from agents.tasks import task_for_env

GRID = EvolveConfig(**task_for_env("RandAlg/GridExplore-v0").evolution_presets["default"])
RECALL = EvolveConfig(
    env_id="RandAlg/AssociativeRecall-v1", env_kwargs={"n_pairs": 4, "value_bits": 2},
    model={"width": 8, "n_heads": 1, "key_size": 4, "seed_dim": 4, "mlp": False},
    es={"popsize": 6}, m=3, instances=16,
)  # fmt: skip


def generation(config: EvolveConfig, copies: int = 1):
    """A run, and the inputs of its first generation (its candidates repeated `copies` times)."""
    run = Evolution(config)
    candidates = torch.cat([run.es.ask()] * copies)
    return run, (candidates, run.generation_instances(), run.policy_seeds())


@pytest.mark.ray
def test_ray_runs_train_as_local_runs_on_a_one_shot_task(ray_cluster):
    # first: the module's grid evaluator below then holds both CPUs of the cluster
    local, distributed = Evolution(RECALL), Evolution(RECALL)
    distributed.evaluator = RayEvaluator(RECALL, workers=2, address=ray_cluster)
    with closing(distributed.evaluator):
        for _ in range(2):
            assert local.step() == distributed.step()
    assert torch.equal(local.es.center, distributed.es.center)


@pytest.fixture(scope="module")
def grid_evaluator(ray_cluster):
    evaluator = RayEvaluator(GRID, workers=2, address=ray_cluster)
    yield evaluator
    evaluator.close()


def test_the_default_path_never_imports_ray():
    code = (
        "import sys; import agents.evolution.run, agents.evolution.ray_evaluator; "
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.ray
def test_ray_returns_equal_local_returns_on_a_generation(grid_evaluator):
    run, inputs = generation(GRID)
    assert torch.equal(grid_evaluator.returns(*inputs), LocalEvaluator(run.engine).returns(*inputs))
    assert grid_evaluator.last_generation["parameter_bytes"] == inputs[0].numpy().nbytes


@pytest.mark.ray
def test_a_killed_actor_still_completes_the_generation_with_the_same_result(grid_evaluator):
    import ray

    run, inputs = generation(GRID, copies=4)  # about a second per chunk
    expected = LocalEvaluator(run.engine).returns(*inputs)
    result = {}
    play = threading.Thread(target=lambda: result.update(got=grid_evaluator.returns(*inputs)))
    restarts = grid_evaluator.restarts
    play.start()
    time.sleep(0.3)
    ray.kill(grid_evaluator.actors[0])
    play.join(timeout=300)  # a replacement actor starts a Python process: slow on a busy machine
    assert not play.is_alive(), "the generation did not finish within 300 s"
    assert grid_evaluator.restarts == restarts + 1  # the chunk was really lost and played again
    assert torch.equal(result["got"], expected)


@pytest.mark.ray
def test_no_actor_started_is_a_clear_error(grid_evaluator, ray_cluster):
    # the module's evaluator holds both CPUs of the cluster: a new actor never gets one
    with pytest.raises(RuntimeError, match="no Ray actor could be started on a cluster of 2 CPUs"):
        RayEvaluator(GRID, workers=1, address=ray_cluster, start_timeout=0.5)


@pytest.mark.ray
def test_a_chunk_past_its_time_limit_is_an_error_once_its_retries_are_spent(grid_evaluator):
    _, inputs = generation(GRID)
    limits = grid_evaluator.chunk_timeout, grid_evaluator.retries
    grid_evaluator.chunk_timeout, grid_evaluator.retries = 0.0, 0
    try:
        with pytest.raises(RuntimeError, match="no result within chunk_timeout=0 s"):
            grid_evaluator.returns(*inputs)
    finally:
        grid_evaluator.chunk_timeout, grid_evaluator.retries = limits

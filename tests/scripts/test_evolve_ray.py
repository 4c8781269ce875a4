"""evolve.py --backend ray resumes from a checkpoint to the local result; local needs no Ray."""

from __future__ import annotations

import dataclasses
import runpy
import subprocess
import sys

import pytest
import torch

from agents.evolution.run import Evolution
from agents.runs.cli import parse
from tests.scripts.test_evolve_cli import CONFIG, RUNTIME, SCRIPT, evolve, final_state, log_rows

IN_PROCESS = (
    "import runpy, sys; sys.argv = sys.argv[1:]; {before}"
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def evolve_in_process(before: str, *args: str) -> subprocess.CompletedProcess:
    """Runs evolve.py in one Python process that first runs the statements `before`."""
    code = IN_PROCESS.format(before=before)
    command = [sys.executable, "-c", code, str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.mark.ray
def test_a_ray_run_resumes_from_its_checkpoint_to_the_local_result(tmp_path, ray_cluster):
    out, ray = tmp_path / "ray", ["--backend", "ray", "--ray-address", ray_cluster]
    first = [*CONFIG, "--generations", "3", *RUNTIME, "--out", str(out), *ray, "--workers", "1"]
    done = evolve(*first)
    assert done.returncode == 0, done.stderr  # a process of its own joins the cluster
    assert len(log_rows(out)) == 3

    script = runpy.run_path(str(SCRIPT))  # resumed in this process, already on the cluster
    script["main"](parse(script["Args"], None, ["--resume", str(out), "--generations", "6",
                                                *RUNTIME, *ray, "--workers", "2"]))  # fmt: skip
    assert len(log_rows(out)) == 6

    resumed, generation = Evolution.load(out / "checkpoint.pt")
    local = Evolution(dataclasses.replace(resumed.config, generations=3))  # as first saved
    for _ in range(generation):
        local.step()
    for name, tensor in local.state_dict().items():
        if isinstance(tensor, torch.Tensor):
            assert torch.equal(final_state(out)[name], tensor), name


def test_a_local_run_never_imports_ray(tmp_path):
    check = "import atexit; atexit.register(lambda: print('ray imported:', 'ray' in sys.modules)); "
    flags = [*CONFIG, "--generations", "2", *RUNTIME, "--out", str(tmp_path / "run")]
    done = evolve_in_process(check, *flags)
    assert done.returncode == 0, done.stderr
    assert "ray imported: False" in done.stdout


def test_backend_ray_without_ray_says_how_to_install_it(tmp_path):
    no_ray = "sys.modules['ray'] = None; "  # `import ray` then fails as if Ray were not installed
    flags = [*CONFIG, "--generations", "2", *RUNTIME, "--out", str(tmp_path / "run")]
    done = evolve_in_process(no_ray, *flags, "--backend", "ray")
    assert done.returncode == 1
    assert "error: the Ray backend needs Ray" in done.stderr
    assert 'pip install -e ".[ray]"' in done.stderr
    assert not (tmp_path / "run").exists()  # refused before any work

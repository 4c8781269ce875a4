"""Test-wide settings and the Ray cluster of the tests marked ray."""

import os
from collections.abc import Iterator

import pytest
import torch

# Tests use tiny tensors: one thread avoids OpenMP start-up and oversubscription costs.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def sb3_log_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SB3 models that learn without a logger write there, not to a new folder in /tmp each."""
    os.environ.setdefault("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3")))


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A 2-CPU Ray cluster on this machine, started once for the tests marked ray; its address."""
    try:
        import ray
    except ImportError:
        pytest.fail('the tests marked ray need Ray: pip install -e ".[ray]" (or -m "not ray")')
    context = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20)
    yield context.address_info["gcs_address"]
    ray.shutdown()

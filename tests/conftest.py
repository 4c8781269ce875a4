"""Test-wide settings and the Ray cluster of the tests marked ray."""

from collections.abc import Iterator

import pytest
import torch

# Tests use tiny tensors: one thread avoids OpenMP start-up and oversubscription costs.
torch.set_num_threads(1)


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

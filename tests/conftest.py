"""Test-wide settings."""

import torch

# Tests use tiny tensors: one thread avoids OpenMP start-up and oversubscription costs.
torch.set_num_threads(1)

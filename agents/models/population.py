"""Populations of one architecture as flat parameter vectors, for evolution strategies.

An ES searches over flat vectors (P,); `unflatten_parameters` turns a stack of them
(..., P) into a params dict whose leading dims `torch.func.vmap` maps over, and
`functional_method_call` runs any method of the model (forward, init_cache, step) with it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from agents.models.transformer import SeededTransformer

METHODS = ("forward", "init_cache", "step")


def parameter_count(model: nn.Module) -> int:
    """Number of scalar parameters (the dimension P of an ES search space)."""
    return sum(p.numel() for p in model.parameters())


def flatten_parameters(model: nn.Module) -> Tensor:
    """All parameters as one detached vector (P,), in ``named_parameters`` order."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def unflatten_parameters(model: nn.Module, flat: Tensor) -> dict[str, Tensor]:
    """Split flat vectors (..., P) into a params dict for ``torch.func.functional_call``.

    Leading dims are kept: entry ``name`` has shape (..., *param.shape), ready for ``vmap``.
    """
    shapes = {name: p.shape for name, p in model.named_parameters()}
    sizes = [shape.numel() for shape in shapes.values()]
    if flat.dim() < 1 or flat.shape[-1] != sum(sizes):
        raise ValueError(
            f"flat of shape {tuple(flat.shape)} is invalid; expected (..., P={sum(sizes)})"
        )
    chunks = flat.split(sizes, dim=-1)  # each (..., numel)
    return {
        name: chunk.reshape(*flat.shape[:-1], *shape)  # (..., numel) -> (..., *shape)
        for (name, shape), chunk in zip(shapes.items(), chunks, strict=True)
    }


class _BoundMethod(nn.Module):
    """Wraps ``model.<method>`` as a forward, so that functional_call can swap parameters."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.model, self.method = model, method

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped method."""
        return getattr(self.model, self.method)(*args, **kwargs)


def functional_method_call(
    model: SeededTransformer,
    params: dict[str, Tensor],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """``torch.func.functional_call`` of ``model.<method>`` ("forward", "init_cache", "step").

    ``params`` maps parameter names to tensors (e.g. from ``unflatten_parameters``); parameters
    it lacks, and all buffers, are the model's own. Returns what the method returns.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not supported; expected one of {METHODS}")
    prefixed = {f"model.{name}": value for name, value in params.items()}
    return torch.func.functional_call(_BoundMethod(model, method), prefixed, args, kwargs)

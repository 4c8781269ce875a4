"""The paper-sized transformer configs (paper-spec Tables 1-3) as named presets."""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.models.transformer import TransformerConfig

# The paper-sized models (paper-spec Tables 1-3); each preset's size argument sets the rest.
PRESETS: dict[str, dict[str, Any]] = {
    # associative recall with the paper code's embedding; tokens [one-hot key (N), bits (5)]
    "recall": dict(
        output_dim=5, width=40, n_layers=2, n_heads=1, key_size=5, attention="linear",
        mlp=False, layer_norm=False, embed_mlp=True, positional="none", mask="causal",
        seed_mode="shared_bits", seed_dim=10,
    ),
    # 3-coloring of cycles: one-hot vertex ids; the adjacency is the call-time mask
    "coloring": dict(
        output_dim=3, width=16, n_layers=2, n_heads=1, key_size=16, attention="linear",
        mlp=False, layer_norm=False, embed_mlp=False, positional="none", mask="none",
        seed_mode="per_token_uniform", seed_dim=1,
    ),
    # grid world: 2 phases x 25 steps after the N(0, 1) seed token
    "grid": dict(
        output_dim=4, width=80, n_layers=2, n_heads=4, key_size=10, attention="softmax",
        mlp=True, layer_norm=True, embed_mlp=False, positional="sinusoidal", max_len=50,
        mask="causal", seed_mode="prefix_normal", seed_dim=80,
    ),
}  # fmt: skip
_PRESET_SIZES = {"recall": "n_pairs", "coloring": "n_vertices", "grid": "input_dim"}


def preset(name: str, **kwargs: Any) -> TransformerConfig:
    """The paper-sized config ``name``, e.g. ``preset("recall", n_pairs=15)``.

    Args:
        name: "recall" (needs ``n_pairs``: input_dim N + 5, max_len N + 1), "coloring"
            (``n_vertices``, default 10: input_dim and max_len N) or "grid" (needs ``input_dim``).
        **kwargs: The size argument, and config fields that override the preset.

    Returns:
        The validated config.
    """
    if name not in PRESETS:
        raise ValueError(f"preset {name!r} is unknown; expected one of {sorted(PRESETS)}")
    size_name = _PRESET_SIZES[name]
    size = kwargs.pop(size_name, 10 if name == "coloring" else None)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"{size_name}={size!r} is invalid; expected an int >= 1")
    fields = {field.name for field in dataclasses.fields(TransformerConfig)}
    if unknown := sorted(set(kwargs) - fields):
        raise ValueError(f"unknown config fields {unknown}; expected some of {sorted(fields)}")
    sized = {
        "recall": {"input_dim": size + 5, "max_len": size + 1},
        "coloring": {"input_dim": size, "max_len": size},
        "grid": {"input_dim": size},
    }[name]
    return TransformerConfig(**{**PRESETS[name], **sized, **kwargs})

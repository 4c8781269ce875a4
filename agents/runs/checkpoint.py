"""Checkpoints: named tensors plus JSON metadata in one file, never pickled objects.

The file is ``torch.save({"format", "metadata": <JSON text>, "tensors": {name: Tensor}})``,
read back with ``torch.load(weights_only=True)``, and written atomically (a temporary file in
the same folder, then ``os.replace``). Model checkpoints store the model's parameters under
``model.<name>`` and its ``TransformerConfig`` under ``metadata["model"]``; loading refuses a
file that is not such a checkpoint, or whose metadata differs from what the caller expects.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from agents.models.transformer import SeededTransformer, TransformerConfig

FORMAT = "randgym-checkpoint-1"
MODEL_PREFIX = "model."


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], metadata: dict) -> None:
    """Atomically write ``tensors`` and JSON-able ``metadata`` to ``path``.

    Raises:
        ValueError: If a value is not a tensor or the metadata is not JSON-able.
    """
    path = Path(path)
    if not all(isinstance(value, Tensor) for value in tensors.values()):
        raise ValueError(f"tensors must map names to tensors, got types {_types(tensors)}")
    try:
        text = json.dumps(metadata, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint metadata is not JSON-able: {error}") from error
    payload = {
        "format": FORMAT,
        "metadata": text,
        "tensors": {name: value.detach().cpu().contiguous() for name, value in tensors.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is a normal file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(
    path: str | Path, expect: dict[str, Any] | None = None
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint written by ``save_checkpoint``.

    Args:
        path: The file.
        expect: Metadata entries the checkpoint must have, e.g. ``{"task": {...}}``.

    Returns:
        ``(tensors, metadata)``.

    Raises:
        ValueError: If the file is missing, unreadable, corrupt, not a checkpoint of this
            format, or its metadata differs from ``expect`` (naming every differing entry).
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to read means "not a checkpoint"
        raise ValueError(f"checkpoint {str(path)!r} cannot be read (corrupt?): {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a {FORMAT} checkpoint")
    tensors = payload.get("tensors")
    if not isinstance(tensors, dict) or not all(isinstance(v, Tensor) for v in tensors.values()):
        raise ValueError(f"checkpoint {str(path)!r} is corrupt: its tensors are {_types(tensors)}")
    try:
        metadata = json.loads(payload["metadata"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {str(path)!r} has corrupt metadata: {error}") from error
    differences = [
        f"{key}: checkpoint has {metadata.get(key)!r}, expected {value!r}"
        for key, value in (expect or {}).items()
        if metadata.get(key) != value
    ]
    if differences:
        raise ValueError(
            f"checkpoint {str(path)!r} does not match the requested configuration:\n  "
            + "\n  ".join(differences)
        )
    return tensors, metadata


def save_model(
    path: str | Path,
    model: SeededTransformer,
    metadata: dict[str, Any],
    extra: dict[str, Tensor] | None = None,
) -> None:
    """Save the parameters and config of ``model``, ``metadata`` and ``extra`` tensors."""
    tensors = {MODEL_PREFIX + name: value for name, value in model.state_dict().items()}
    config = dataclasses.asdict(model.config)
    save_checkpoint(path, {**tensors, **(extra or {})}, {**metadata, "model": config})


def load_model(
    path: str | Path,
    config: TransformerConfig | None = None,
    expect: dict[str, Any] | None = None,
) -> tuple[SeededTransformer, dict[str, Tensor], dict[str, Any]]:
    """Rebuild the model of a ``save_model`` checkpoint.

    Args:
        path: The file.
        config: If given, the checkpoint's model config must equal it.
        expect: Other metadata entries the checkpoint must have (see ``load_checkpoint``).

    Returns:
        ``(model, extra tensors, metadata)``.

    Raises:
        ValueError: On any mismatch or corruption, saying what differs.
    """
    model_expect = {} if config is None else {"model": dataclasses.asdict(config)}
    tensors, metadata = load_checkpoint(path, {**(expect or {}), **model_expect})
    try:
        model = SeededTransformer(TransformerConfig(**metadata["model"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {str(path)!r} has no valid model config: {error}") from error
    state = {k.removeprefix(MODEL_PREFIX): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"checkpoint {str(path)!r} does not fit its model config: {error}"
        ) from error
    extra = {k: v for k, v in tensors.items() if not k.startswith(MODEL_PREFIX)}
    return model, extra, metadata


def _types(mapping: Any) -> str:
    if not isinstance(mapping, dict):
        return type(mapping).__name__
    return str(sorted({type(value).__name__ for value in mapping.values()}))

"""Checkpoints: named tensors plus JSON metadata in one file; data only, never code.

The file is ``torch.save({"format", "metadata": <JSON text>, "tensors": {name: Tensor}})``,
read back with ``torch.load(weights_only=True)`` (no pickled objects, so loading runs no code).

API:

- ``save_checkpoint(path, tensors, metadata)`` writes atomically (a temporary file in the same
  folder, then ``os.replace``): an interrupted write leaves the previous file intact and its
  temporary file is removed; one left by a killed process is removed by the next save of that
  checkpoint. It refuses non-finite tensors (no NaN model is ever saved) and reports a full disk
  as such. ``load_checkpoint(path, expect)`` refuses anything but plain CPU dense tensors of a
  numeric or bool dtype with finite values, and metadata that differs from ``expect``.
- ``check_field(metadata, "generation", int, minimum=0, path=path)`` validates one metadata
  field (dotted names reach into nested dicts), and ``check_env_id`` refuses an env id outside
  the ``RandAlg/`` namespace, so a checkpoint can never make another env nor import a module.
- ``save_model`` / ``load_model``: a ``SeededTransformer`` (or ``MemoryProcessor``) stores its
  parameters under ``model.<name>`` and its ``TransformerConfig`` (``MemoryConfig``) under
  ``metadata["model"]``; loading checks every config field's type, naming the field and the
  file, and rebuilds the model the config describes.
- ``write_atomically(path, write)`` is the atomic write shared with the run folder.
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, get_type_hints

import torch
from torch import Tensor

from agents.models.memory import MemoryConfig, build_model, model_config
from agents.models.transformer import SeededTransformer, TransformerConfig

FORMAT = "randgym-checkpoint-1"
MODEL_PREFIX = "model."
DTYPES = frozenset(
    {torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}
    | {torch.float16, torch.bfloat16, torch.float32, torch.float64}
)
ENV_ID = re.compile(r"RandAlg/[A-Za-z][A-Za-z0-9_]*(-v[0-9]+)?")
_MISSING = object()  # a metadata field that is not there
_MODEL_FIELDS = get_type_hints(MemoryConfig)  # a TransformerConfig's fields and the memory's
_REQUIRED_MODEL_FIELDS = [
    f.name for f in dataclasses.fields(TransformerConfig) if f.default is dataclasses.MISSING
]


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file by ``write(binary_file)`` into a temporary file, then rename it to ``path``.

    Temporary files of ``path`` left by a killed writer are removed first.

    Raises:
        OSError: With errno ENOSPC and a message naming ``path`` when the disk is full.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in glob.glob(glob.escape(str(path.parent / f".{path.name}.")) + "*.tmp"):
        Path(stale).unlink(missing_ok=True)
    tmp = None
    try:
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is a normal file
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"the disk is full: cannot write {str(path)!r}") from error
        raise


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], metadata: dict) -> None:
    """Atomically write ``tensors`` and JSON-able ``metadata`` to ``path``.

    Raises:
        ValueError: If a value is not a tensor of a numeric or bool dtype, a tensor has a NaN
            or infinite value, or the metadata is not JSON-able.
        OSError: If the file cannot be written (a full disk says so).
    """
    if not all(isinstance(value, Tensor) for value in tensors.values()):
        raise ValueError(f"tensors must map names to tensors, got types {_types(tensors)}")
    cpu = {str(name): value.detach().cpu().contiguous() for name, value in tensors.items()}
    for name, value in cpu.items():
        problem = _tensor_problem(value)
        if problem:
            raise ValueError(f"not saving {str(path)!r}: tensor {name!r} {problem}")
    try:
        text = json.dumps(metadata, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint metadata is not JSON-able: {error}") from error
    payload = {"format": FORMAT, "metadata": text, "tensors": cpu}
    write_atomically(path, lambda file: torch.save(payload, file))


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
            format, holds a tensor that is not plain, numeric and finite (naming it), or its
            metadata differs from ``expect`` (naming every differing entry).
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
    for name, value in tensors.items():
        problem = "has a name that is not a string" if not isinstance(name, str) else None
        problem = problem or _tensor_problem(value)
        if problem:
            raise ValueError(f"checkpoint {str(path)!r}: tensor {name!r} {problem}")
    try:
        metadata = json.loads(payload["metadata"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {str(path)!r} has corrupt metadata: {error}") from error
    if not isinstance(metadata, dict):
        raise ValueError(f"checkpoint {str(path)!r}: metadata is a {type(metadata).__name__}")
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


def check_field(
    metadata: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    *,
    minimum: float | None = None,
    choices: tuple | list | None = None,
    path: str | Path | None = None,
) -> Any:
    """Return the metadata field ``name`` after checking its type and value.

    Args:
        metadata: The checkpoint's metadata.
        name: The field; a dotted name such as ``"model.width"`` reaches into nested dicts.
        kind: The accepted type(s). ``int`` never accepts a bool; ``float`` accepts an int.
            A float is never NaN.
        minimum: If given, the smallest accepted value.
        choices: If given, the accepted values.
        path: The checkpoint, for the error message.

    Raises:
        ValueError: ``checkpoint <path>: field <name> is <value>; expected ...``.
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    value: Any = metadata
    for part in name.split("."):
        value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
    expected = " or ".join(k.__name__ for k in kinds)
    if minimum is not None:
        expected += f" >= {minimum}"
    if choices is not None:
        expected += f" in {list(choices)}"
    if (
        not _has_kind(value, kinds)
        or (minimum is not None and not value >= minimum)
        or (choices is not None and value not in choices)
    ):
        where = "checkpoint" if path is None else f"checkpoint {str(path)!r}"
        shown = "missing" if value is _MISSING else repr(value)
        raise ValueError(f"{where}: field {name!r} is {shown}; expected {expected}")
    return value


def check_env_id(env_id: Any) -> str:
    """Return ``env_id`` if it names an env of this package (``RandAlg/<Name>[-v<N>]``).

    Raises:
        ValueError: For any other id, in particular ``"module:Env-v0"`` (which would make
            gymnasium import ``module``) and ids of other namespaces.
    """
    if not isinstance(env_id, str) or not ENV_ID.fullmatch(env_id):
        raise ValueError(
            f"env id {env_id!r} is refused; expected an env of this package such as "
            "'RandAlg/GridExplore-v0'"
        )
    return env_id


def save_model(
    path: str | Path,
    model: SeededTransformer,
    metadata: dict[str, Any],
    extra: dict[str, Tensor] | None = None,
) -> None:
    """Save the parameters and config of ``model``, ``metadata`` and ``extra`` tensors.

    Raises:
        ValueError: If a parameter is NaN or infinite (see ``save_checkpoint``).
    """
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
    model = build_model(_model_config(metadata, path))
    state = {k.removeprefix(MODEL_PREFIX): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"checkpoint {str(path)!r} does not fit its model config: {error}"
        ) from error
    extra = {k: v for k, v in tensors.items() if not k.startswith(MODEL_PREFIX)}
    return model, extra, metadata


def _model_config(metadata: dict[str, Any], path: str | Path) -> TransformerConfig:
    """The model config (``TransformerConfig`` or ``MemoryConfig``) of ``metadata["model"]``."""
    fields = check_field(metadata, "model", dict, path=path)
    unknown = sorted(set(fields) - set(_MODEL_FIELDS))
    if unknown:
        raise ValueError(
            f"checkpoint {str(path)!r}: field 'model' has unknown entries {unknown}; "
            f"expected TransformerConfig or MemoryConfig fields {list(_MODEL_FIELDS)}"
        )
    for name, kind in _MODEL_FIELDS.items():
        if name in fields or name in _REQUIRED_MODEL_FIELDS:
            check_field(metadata, f"model.{name}", kind, path=path)
    try:
        return model_config(**fields)
    except ValueError as error:
        raise ValueError(f"checkpoint {str(path)!r} has no valid model config: {error}") from error


def _has_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return isinstance(value, kinds) or (float in kinds and isinstance(value, int))


def _tensor_problem(value: Tensor) -> str | None:
    """Why ``value`` may not be in a checkpoint, or None."""
    if type(value) is not Tensor or value.layout != torch.strided or value.device.type != "cpu":
        return f"is a {type(value).__name__} {value.layout} on {value.device}; expected dense CPU"
    if value.dtype not in DTYPES:
        return f"has dtype {value.dtype}; expected a numeric or bool dtype"
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        return "has NaN" if bool(torch.isnan(value).any()) else "has an infinite value"
    return None


def _types(mapping: Any) -> str:
    if not isinstance(mapping, dict):
        return type(mapping).__name__
    return str(sorted({type(value).__name__ for value in mapping.values()}))

"""Run folders: one folder per run, locked by the process that runs it.

A folder holds a run when it has ``run.json`` (the script and its config, written by
``RunFolder.create``). While a ``RunFolder`` is open its process holds an exclusive
``fcntl.flock`` on ``<folder>/.lock``; the OS releases it when the process ends, however it
ends, so two processes can never run in one folder and a crashed run can always be resumed.

API::

    out = Path(args.out) if args.out else default_run_dir("evolve")
    with RunFolder.create(out, "evolve", config_dict, overwrite=args.overwrite) as folder:
        ...  # write into folder.path
    with RunFolder.resume(args.resume, script="evolve") as folder:
        ...  # folder.config is the config given to create

Every refusal is a ``ValueError`` naming the folder and what to do instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from agents.runs.checkpoint import write_atomically

MARKER = "run.json"
LOCK = ".lock"


class RunFolder:
    """An open run folder whose lock this process holds until ``close``.

    Attributes:
        path: The folder.
        script: The name of the script that created the run.
        config: The JSON-able config the run was created with.
    """

    def __init__(self, path: Path, lock: int, info: dict[str, Any]) -> None:
        """Use ``create`` or ``resume``."""
        self.path = path
        self._lock: int | None = lock
        self.script: str = info["script"]
        self.config: dict[str, Any] = info["config"]

    @classmethod
    def create(
        cls, path: str | Path, script: str, config: dict[str, Any], *, overwrite: bool = False
    ) -> RunFolder:
        """Start a new run in ``path`` (created if missing), locked for this process.

        Args:
            path: The folder: missing, empty, or (with ``overwrite``) holding a run.
            script: The name of the script, e.g. ``"evolve"``.
            config: The run's JSON-able config, saved in ``run.json``.
            overwrite: Delete the run already in ``path`` (never a folder without ``run.json``).

        Raises:
            ValueError: If the folder is not writable, holds a run (and not ``overwrite``),
                holds other files, or is in use by a running process.
        """
        path = Path(path)
        lock = _lock(_writable_folder(path))
        try:
            if (path / MARKER).exists():
                if not overwrite:
                    raise ValueError(
                        f"{path} already holds a run: pass --resume {path} to continue it, "
                        "choose another --out, or pass --overwrite to replace it"
                    )
                _empty(path)
            others = sorted(p.name for p in path.iterdir() if p.name != LOCK)
            if others:
                raise ValueError(
                    f"{path} is not empty and holds no run (it has {others[:5]}); "
                    "choose another --out"
                )
            info = {"script": script, "config": config}
            try:
                text = json.dumps(info, indent=2, sort_keys=True)
            except (TypeError, ValueError) as error:
                raise ValueError(f"the config of the run in {path} is not JSON-able") from error
            write_atomically(path / MARKER, lambda file: file.write(text.encode()))
        except BaseException:
            os.close(lock)
            raise
        return cls(path, lock, info)

    @classmethod
    def resume(cls, path: str | Path, script: str | None = None) -> RunFolder:
        """Continue the run in ``path``, locked for this process.

        Args:
            path: A folder holding a run.
            script: If given, the run must have been created by this script.

        Raises:
            ValueError: If the folder holds no run (or another script's), is not writable, or
                is in use by a running process.
        """
        path = Path(path)
        if not (path / MARKER).is_file():
            raise ValueError(f"{path} holds no run to resume (no {MARKER}); start one with --out")
        lock = _lock(_writable_folder(path))
        try:
            info = _read_marker(path / MARKER)
            if script is not None and info["script"] != script:
                raise ValueError(
                    f"{path} holds a run of {info['script']!r}, not of {script!r}; "
                    f"resume it with the {info['script']} script"
                )
        except BaseException:
            os.close(lock)
            raise
        return cls(path, lock, info)

    def close(self) -> None:
        """Release the lock (idempotent)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    """The first of ``root/name``, ``root/name-2``, ``root/name-3``, ... that does not exist."""
    root = Path(root)
    candidate, number = root / name, 1
    while candidate.exists():
        number += 1
        candidate = root / f"{name}-{number}"
    return candidate


def _writable_folder(path: Path) -> Path:
    """``path``, created if missing, after checking that files can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(f"run folder {path} is not a writable folder: {error}") from error
    return path


def _lock(path: Path) -> int:
    """Take the exclusive lock of the folder ``path``; return its file descriptor."""
    lock = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(lock, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(lock)
        raise ValueError(
            f"{path} is in use by another running process (pid {owner}); wait for it to end "
            "or choose another folder"
        ) from None
    os.ftruncate(lock, 0)
    os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)
    return lock


def _empty(path: Path) -> None:
    """Delete everything in the folder ``path`` but its lock file."""
    for child in path.iterdir():
        if child.name == LOCK:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _read_marker(marker: Path) -> dict[str, Any]:
    """The ``{"script", "config"}`` of a run's ``run.json``, validated."""
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{marker} is unreadable or corrupt: {error}") from error
    if not (
        isinstance(info, dict)
        and isinstance(info.get("script"), str)
        and isinstance(info.get("config"), dict)
    ):
        raise ValueError(f"{marker} is corrupt: expected {{'script': str, 'config': dict}}")
    return info

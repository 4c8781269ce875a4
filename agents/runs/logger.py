"""The run log: ``log.csv`` appended one flushed row at a time, plus TensorBoard scalars.

Columns: the first row's keys, then the declared ``optional`` columns it lacks. A later row
may leave columns out (written empty) but may not bring a new one (``ValueError``): declare
columns that appear only now and then, such as evaluation results, as ``optional``. Rows carry
an integer step column (``step_key``) that increases from row to row.

Resuming from a checkpoint taken after step N keeps the rows up to step N, drops later ones
(and a row torn by a killed process) and appends after them, so the log of a resumed run
equals that of an uninterrupted one. This is the only time the file is rewritten.

TensorBoard scalars go to ``<run_dir>/tensorboard`` when ``torch.utils.tensorboard`` imports
(the ``tensorboard`` package is installed); otherwise only the CSV is written.

API::

    with RunLogger(run_dir, step_key="generation", optional=["eval_worst"],
                   resume_from_step=start) as log:
        log.log({"generation": 1, "fitness_mean": 0.5})
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agents.runs.checkpoint import write_atomically

LOG = "log.csv"


class RunLogger:
    """Appends rows to ``<run_dir>/log.csv`` and, if available, TensorBoard."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        step_key: str = "step",
        optional: Iterable[str] = (),
        resume_from_step: int | None = None,
    ) -> None:
        """Open the log of ``run_dir``.

        Args:
            run_dir: The run's folder (it must exist).
            step_key: The integer column that orders the rows.
            optional: Columns that not every row has.
            resume_from_step: ``None`` starts a new log (replacing any). An int N continues
                the existing log after step N, dropping its later rows.

        Raises:
            ValueError: If the existing log is unreadable or has no ``step_key`` column.
        """
        self.path = Path(run_dir) / LOG
        self.step_key = step_key
        self._optional = list(dict.fromkeys(optional))
        self._columns: list[str] | None = None
        self._last_step: int | None = None
        if resume_from_step is not None and self.path.exists():
            self._truncate_after(resume_from_step)
        else:
            self.path.write_text("")
        self._file: io.TextIOWrapper | None = self.path.open("a", newline="", encoding="utf-8")
        self._board = _tensorboard(Path(run_dir), resume_from_step)

    def log(self, row: dict[str, Any]) -> None:
        """Append ``row`` (column -> number, string or None) and flush it.

        Raises:
            ValueError: If the logger is closed, the step is missing, not an int or not larger
                than the previous row's, or ``row`` has a column the log does not have.
        """
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        step = row.get(self.step_key)
        if isinstance(step, bool) or not isinstance(step, int):
            raise ValueError(f"log row {row!r}: {self.step_key!r} is {step!r}; expected an int")
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(
                f"log row {row!r}: {self.step_key} {step} does not follow {self._last_step}"
            )
        first = self._columns is None
        if first:
            self._columns = list(row) + [c for c in self._optional if c not in row]
        unknown = [column for column in row if column not in self._columns]
        if unknown:
            raise ValueError(
                f"log row has columns {unknown} that {self.path} does not have "
                f"({self._columns}); declare them as optional"
            )
        writer = csv.DictWriter(self._file, self._columns, restval="", lineterminator="\n")
        if first:
            writer.writeheader()
        writer.writerow(row)
        self._file.flush()
        self._last_step = step
        if self._board is not None:
            for key, value in row.items():
                if key != self.step_key and _is_number(value):
                    self._board.add_scalar(key, value, step)

    def close(self) -> None:
        """Close the files (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._board is not None:
            self._board.close()
            self._board = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _truncate_after(self, last_step: int) -> None:
        """Keep the rows up to ``last_step`` (and the columns, plus new optional ones)."""
        text = self.path.read_text(encoding="utf-8")
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a row torn by a killed writer
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = list(reader.fieldnames or [])
        if not columns:
            self.path.write_text("")
            return
        if self.step_key not in columns:
            raise ValueError(f"{self.path} has no {self.step_key!r} column: {columns}")
        try:
            rows = [row for row in reader if int(row[self.step_key]) <= last_step]
        except (TypeError, ValueError) as error:
            raise ValueError(f"{self.path} has a bad {self.step_key!r} value: {error}") from error
        self._columns = columns + [c for c in self._optional if c not in columns]
        self._last_step = int(rows[-1][self.step_key]) if rows else None
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, self._columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        data = out.getvalue().encode("utf-8")
        write_atomically(self.path, lambda file: file.write(data))


def _tensorboard(run_dir: Path, resume_from_step: int | None) -> Any:
    """A TensorBoard writer (dropping events after ``resume_from_step``), or None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    purge = None if resume_from_step is None else resume_from_step + 1
    return SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

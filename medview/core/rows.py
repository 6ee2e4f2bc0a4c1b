"""Reading one database row's values strictly: a value medview did not write is a
``DamagedRow`` naming the column, so the caller can skip that row and name it rather than
fail the whole project (one row of bad JSON in ``shape`` broke ``items``, ``info`` and the
window, issue 10)."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Collection
from typing import Any


class DamagedRow(ValueError):
    """A row value that is not what medview writes; the message names the column."""


def column(
    row: sqlite3.Row,
    name: str,
    kind: type,
    *,
    optional: bool = False,
    choices: Collection[str] | None = None,
) -> Any:
    value = row[name]
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise DamagedRow(f"{name} is not {kind.__name__} ({_short(value)})")
    if choices is not None and value not in choices:
        raise DamagedRow(f"{name} {_short(value)} is not one of {', '.join(choices)}")
    return value


def json_value(row: sqlite3.Row, name: str, kind: type, *, default: str | None = None) -> Any:
    text = row[name]
    if text is None and default is not None:
        text = default
    if not isinstance(text, str | bytes):
        raise DamagedRow(f"{name} is not JSON text ({_short(text)})")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DamagedRow(f"bad JSON in {name} ({_short(text)})") from exc
    if not isinstance(value, kind):
        raise DamagedRow(f"{name} is not a JSON {kind.__name__} ({_short(text)})")
    return value


def json_list(
    row: sqlite3.Row,
    name: str,
    element: type,
    *,
    default: str | None = None,
    sizes: Collection[int] | None = None,
    positive: bool = False,
) -> list[Any]:
    values = json_value(row, name, list, default=default)
    if sizes is not None and len(values) not in sizes:
        raise DamagedRow(f"{name} has {len(values)} values")
    out: list[Any] = []
    for value in values:
        if element is float and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise DamagedRow(f"{name} holds {value}")
            out.append(float(value))
            continue
        if not isinstance(value, element) or isinstance(value, bool):
            raise DamagedRow(f"{name} holds {_short(value)}, not {element.__name__}")
        if positive and isinstance(value, int | float) and value <= 0:
            raise DamagedRow(f"{name} holds {value}")
        out.append(value)
    return out


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

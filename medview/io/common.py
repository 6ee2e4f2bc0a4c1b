"""Small helpers shared by the readers."""

from __future__ import annotations


def describe(exc: BaseException) -> str:
    """A one-line reason from a third-party exception: its type and first message line."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__

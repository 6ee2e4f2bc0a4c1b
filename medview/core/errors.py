"""The project's own error types.

Every failure that a user can cause (a bad file, a wrong argument, a missing project) is
raised as a ``MedviewError`` with a message that names the thing and the reason, so the CLI
and the window can show it without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class MedviewError(Exception):
    """A user-facing error: the message is shown as it is."""


class ReadError(MedviewError):
    """A file (or series) could not be read. ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ProjectError(MedviewError):
    """The project store refused an operation (missing project, unknown item or class...)."""

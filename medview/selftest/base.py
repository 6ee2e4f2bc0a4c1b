"""What the self-test's checks share: the failure they raise, their result, their context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CheckFailed(Exception):
    """A check's expected failure: the message is the one-line reason shown to the user."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class Context:
    """State shared between checks: a temp folder and the synthetic project made in it."""

    workdir: Path
    project_error: str | None = None
    _project: Path | None = None

    def project(self) -> Path:
        """A tiny labelled 2D project (8 PNG images, WT/MUT), created on first use."""
        if self._project is None:
            from medview.demo import create_demo_project

            path = self.workdir / "selftest.medview"
            try:
                create_demo_project(path, n_volumes=0, n_images=8, seed=3).close()
            except Exception as exc:
                self.project_error = f"{type(exc).__name__}: {_first_line(exc)}"
                raise CheckFailed(f"cannot create the test project: {self.project_error}") from exc
            self._project = path
        return self._project


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

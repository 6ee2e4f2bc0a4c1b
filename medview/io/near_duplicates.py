"""Duplicates a content hash cannot see, and copies that disagree: per project.

- ``hash_items``: the thumbnail pass of an import. Each new item is decoded once and the
  perceptual hash (medview.io.phash) of its thumbnail rendering stored in the project. The
  thumbnail PNG itself is still made by the browser when shown: writing 3 000 PNGs at import
  tripled the time of importing a MedMNIST archive.
- ``near_duplicate_groups``: items whose hashes are within a few bits (resized, re-encoded,
  slightly noisy copies), for the browser's "near duplicates" filter and the leakage audit.
- ``label_conflicts``: items with identical content but different labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from medview.core.errors import MedviewError
from medview.io import phash
from medview.io.scanning import Skipped

Progress = Callable[[int, int, str], None]


def hash_one(project: Any, item: Any) -> str:
    """Load ``item`` and return its perceptual hash (ReadError when it cannot be read)."""
    from medview.io.readers import load_item

    # lazy: a microscope scene is hashed from the planes it needs, never read whole
    return phash.hash_image(load_item(project, item, lazy=True))


def hash_items(
    project: Any,
    items: Sequence[Any],
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> list[Skipped]:
    """Hash ``items`` (a few threads: the decoders and Pillow release the GIL) and store the
    hashes; returns the items that could not be read."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def one(item: Any) -> tuple[Any, str | None, str | None]:
        if cancel is not None and cancel():
            return item, None, None
        try:
            return item, hash_one(project, item), None
        except MedviewError as exc:
            return item, None, str(exc)
        except Exception as exc:  # a decoder bug must not fail the import it follows
            return item, None, f"{type(exc).__name__}: {exc}"

    done: list[tuple[int, str]] = []
    failed: list[Skipped] = []
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        for index, (item, value, error) in enumerate(pool.map(one, items)):
            if progress is not None:
                progress(index, len(items), f"hashing {item.name}")
            if error is not None:
                failed.append(Skipped(item.path or item.name, error))
            elif value is not None:
                done.append((item.id, value))
            if len(done) >= 256:
                project.set_phashes(done)
                done = []
    project.set_phashes(done)
    return failed


def near_duplicate_groups(project: Any, max_distance: int = phash.MAX_DISTANCE) -> list[list[int]]:
    """Groups (item ids) of near-identical items, largest first; exact copies included."""
    return phash.near_duplicate_groups(project.phashes().items(), max_distance)


def label_conflicts(project: Any) -> list[list[Any]]:
    """Groups of items with the same content hash and more than one label among them."""
    by_hash: dict[str, list[Any]] = {}
    for item in project.items():
        by_hash.setdefault(item.content_hash, []).append(item)
    return [
        group
        for group in by_hash.values()
        if len(group) > 1 and len({it.label for it in group if it.label is not None}) > 1
    ]


def group_of(groups: Sequence[Sequence[int]]) -> dict[int, int]:
    """Item id -> index of its group."""
    return {item_id: k for k, group in enumerate(groups) for item_id in group}

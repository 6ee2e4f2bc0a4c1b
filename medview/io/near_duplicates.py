"""Duplicates a content hash cannot see, and copies that disagree: per project.

- ``hash_items``: the thumbnail pass of an import. Each new item is decoded once; its browser
  thumbnail is written to the cache (so the browser does not decode it again) and its
  perceptual hash (medview.io.phash) stored in the project.
- ``near_duplicate_groups``: items whose hashes are within a few bits (resized, re-encoded,
  slightly noisy copies), for the browser's "near duplicates" filter and the leakage audit.
- ``label_conflicts``: items with identical content but different labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from medview.core.errors import MedviewError
from medview.io import phash
from medview.io.readers import Skipped

Progress = Callable[[int, int, str], None]


def hash_one(project: Any, item: Any) -> str:
    """Load ``item``, cache its thumbnail, return its perceptual hash (ReadError if unreadable)."""
    from medview.io.readers import load_item
    from medview.io.thumbnails import _write_png, make_thumbnail, thumbnail_path

    image = load_item(project, item)
    thumb = make_thumbnail(image)
    path = thumbnail_path(project, item)
    if not path.is_file():
        _write_png(path, thumb)
    return phash.hash_image(image, thumb)


def hash_items(
    project: Any,
    items: Sequence[Any],
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[Skipped]:
    """Hash ``items`` and store the hashes; returns the items that could not be read."""
    done: list[tuple[int, str]] = []
    failed: list[Skipped] = []
    for index, item in enumerate(items):
        if cancel is not None and cancel():
            break
        if progress is not None:
            progress(index, len(items), f"thumbnail of {item.name}")
        try:
            done.append((item.id, hash_one(project, item)))
        except MedviewError as exc:
            failed.append(Skipped(item.path or item.name, str(exc)))
        except Exception as exc:  # a decoder bug must not fail the import it follows
            failed.append(Skipped(item.path or item.name, f"{type(exc).__name__}: {exc}"))
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

"""Loads items' images off the GUI thread: latest request wins, recent images are cached,
and the next item in the list is read ahead so paging through a project feels instant.

A DICOM series of several files is shown *progressively*: the slice the view opens at (the
middle) is decoded first and shown at once (``loaded`` carries a partial Image whose
``metadata["progressive"]`` is the :class:`~medview.io.dicom_progressive.ProgressiveSeries`);
the rest decodes in the background nearest to the slice on screen. The slice view follows the
decode itself; this loader caches the final Image when the series is complete. Moving to
another item cancels the partial decodes of every other item. The read-ahead of the next item
follows the same rules, and starts only once the item on screen is complete, so it never
takes cores from the series the user is looking at.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from medview.core.errors import MedviewError
from medview.core.image import Image
from medview.core.project import Item, Project
from medview.ui import workers
from medview.ui.image_cache import ImageCache

if TYPE_CHECKING:  # imported with the first series (warm_imports), not at start-up
    from medview.io.dicom_progressive import ProgressiveSeries


def load(project: Project, item: Item) -> Image:
    from medview.io.readers import load_item  # the io layer is only needed once an item shows

    return load_item(project, item)


def warm_imports() -> None:
    """Import the DICOM decoding stack and load the codec extensions once, off the GUI
    thread: the first series of a session then shows as fast as the next (0.8 s -> 0.4 s
    measured by bench/first_slice.py)."""
    from medview.io import (  # noqa: F401
        dicom_progressive,
        dicom_volume,
        readers,  # noqa: F401
    )

    try:
        import imagecodecs

        imagecodecs.jpeg8_decode, imagecodecs.jpegls_decode, imagecodecs.jpeg2k_decode  # noqa: B018
    except Exception:
        pass  # no imagecodecs: pydicom's plugins decode, nothing to warm


def progressive_candidate(item: Item) -> bool:
    """Items shown while they decode: DICOM series of several files."""
    return item.reader == "dicom" and len(item.paths or ()) > 1


class ItemLoader(QObject):
    loaded = Signal(object, object)  # Item, Image (partial for a progressive series)
    failed = Signal(object, str)  # Item, reason for the user
    completed = Signal(object, object)  # Item, final Image of a progressive series

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = ImageCache()
        self._token = 0
        self._prefetching: set[int] = set()
        # A request for an item whose read-ahead is still running waits for it: reading it
        # a second time would double the decode time and hold two copies of the volume
        # (a 300 MiB CT: three volumes in memory with the one on screen).
        self._waiting: tuple[int, Item] | None = None
        self._generation = 0  # the token of the last reset: older read-aheads are dropped
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        # Progressive series decoding now (the item on screen, the read-ahead), by item id.
        self._series: dict[int, ProgressiveSeries] = {}
        self._series_items: dict[int, Item] = {}
        self._finishing: set[int] = set()
        self._series_lock = threading.Lock()
        self._current_id: int | None = None
        self._deferred: tuple[Project, Item] | None = None
        self._poll = QTimer(self, interval=50)
        self._poll.timeout.connect(self._check_series)
        self._warmed = False

    # ------------------------------------------------------------------ requests
    def warm(self) -> None:
        """Load the DICOM decoding stack in the background, once per session (a second of
        imports otherwise lands on the first series shown)."""
        if not self._warmed:
            self._warmed = True
            workers.start(warm_imports, on_error=lambda exc: None, pool=self._pool)

    def request(self, project: Project, item: Item) -> bool:
        """Load ``item``; ``loaded``/``failed`` follow. True when ``loaded`` has already been
        emitted (from the cache, or a read-ahead that has its first slice)."""
        self.warm()  # once a project shows anything, a DICOM series may follow
        self._token += 1
        token = self._token
        self._current_id = item.id
        self._cancel_series(keep=item.id)  # moving away cancels the other partial decodes
        if self._deferred is not None and self._deferred[1].id != item.id:
            self._deferred = None
        cached = self.cache.get(item.id)
        self._waiting = None
        if cached is not None:
            self.loaded.emit(item, cached)
            return True
        series = self._series.get(item.id)
        if series is not None and series.image is not None:
            self.loaded.emit(item, series.final or series.image)
            return True
        if item.id in self._prefetching:
            self._waiting = (token, item)
            return False

        def work() -> Image | None:
            # A request the user has already scrolled past is not worth reading.
            if token != self._token:
                return None
            return self._start(project, item, lambda: token == self._token)

        workers.start(
            work,
            on_done=lambda image: self._done(token, item, image),
            on_error=lambda exc: self._failed(token, item, exc),
            pool=self._pool,
        )
        return False

    def _start(self, project: Project, item: Item, still_wanted) -> Image:
        """On a pool thread: a progressive series' first slice, or the whole image."""
        if not progressive_candidate(item):
            return load(project, item)
        from medview.io.dicom_progressive import ProgressiveSeries

        paths = project.resolve_paths(item)
        if paths is None:
            return load(project, item)  # names the missing file
        series = ProgressiveSeries(paths, name=Path(paths[0]).parent, spacing=item.spacing)
        with self._series_lock:
            self._series[item.id] = series
            self._series_items[item.id] = item
        try:
            image = series.start(background=False)  # threads start once the slice is shown
        except Exception:
            self._forget(item.id)
            raise
        if image is None:  # not a series this path takes: the general one
            self._forget(item.id)
            return load(project, item)
        if not still_wanted():
            series.cancel()
            self._forget(item.id)
        image.metadata.setdefault("name", item.name)
        return image

    def _done(self, token: int, item: Item, image: Image | None) -> None:
        if image is None or token != self._token:
            return
        series = image.metadata.get("progressive")
        if series is None:
            self.cache.put(item.id, image)
        self.loaded.emit(item, image)
        if series is not None:
            series.start_background()  # after the first slice is on screen
            self._poll.start()

    def _failed(self, token: int, item: Item, exc: Exception) -> None:
        if token != self._token:
            return
        reason = str(exc) if isinstance(exc, MedviewError) else f"{type(exc).__name__}: {exc}"
        self.failed.emit(item, reason)

    # ------------------------------------------------------------------ read-ahead
    def prefetch(self, project: Project, item: Item) -> None:
        if self.cache.get(item.id) is not None or item.id in self._prefetching:
            return
        if item.id in self._series:
            return
        if any(i != item.id for i in self._series):
            # The series on screen is still decoding: read ahead once it is complete.
            self._deferred = (project, item)
            return
        self._prefetching.add(item.id)
        token = self._token

        def done(image: Image) -> None:
            self._prefetching.discard(item.id)
            waiting = self._take_waiting(item)
            if waiting is not None:
                self._done(waiting, item, image)
            elif not self._current(token):  # the project was closed
                self._cancel_series(keep=None)
            elif "progressive" in image.metadata:
                image.metadata["progressive"].start_background()
                self._poll.start()
            else:
                self.cache.put(item.id, image)

        def failed(exc: Exception) -> None:
            self._prefetching.discard(item.id)
            waiting = self._take_waiting(item)
            if waiting is not None:
                self._failed(waiting, item, exc)

        def wanted() -> bool:  # still the item on screen's successor
            return self._current(token) and item.id in self._series

        workers.start(
            lambda: self._start(project, item, wanted),
            on_done=done,
            on_error=failed,
            pool=self._pool,
        )

    def _take_waiting(self, item: Item) -> int | None:
        """The token of a request waiting for this read-ahead, if it is still the latest."""
        if self._waiting is None or self._waiting[1].id != item.id:
            return None
        token, _ = self._waiting
        self._waiting = None
        return token if token == self._token else None

    def _current(self, prefetch_token: int) -> bool:
        # A read-ahead stays useful while no reset happened; requests move the token on, so
        # compare generations rather than equality.
        return prefetch_token >= self._generation

    # ------------------------------------------------------------------ progressive series
    def series_for(self, item_id: int) -> ProgressiveSeries | None:
        """The progressive decode of ``item_id`` running now, if any (tests, benches)."""
        return self._series.get(item_id)

    def _cancel_series(self, keep: int | None) -> None:
        with self._series_lock:
            stale = [i for i in self._series if i != keep]
            for item_id in stale:
                self._series.pop(item_id).cancel()
                self._series_items.pop(item_id, None)

    def _forget(self, item_id: int) -> None:
        with self._series_lock:
            self._series.pop(item_id, None)
            self._series_items.pop(item_id, None)

    def _check_series(self) -> None:
        """GUI timer: hand complete series to a pool thread for their final Image."""
        with self._series_lock:
            running = list(self._series.items())
        for item_id, series in running:
            if item_id in self._finishing or not series.complete:
                continue
            self._finishing.add(item_id)
            item = self._series_items[item_id]
            workers.start(
                series.finish,
                on_done=lambda image, i=item, s=series: self._finished(i, s, image),
                on_error=lambda exc, i=item, s=series: self._finish_failed(i, s, exc),
                pool=self._pool,
            )
        if not running:
            self._poll.stop()

    def _finished(self, item: Item, series: ProgressiveSeries, image: Image) -> None:
        self._finishing.discard(item.id)
        if self._series.get(item.id) is not series:
            return  # cancelled or reset while finishing
        self._forget(item.id)
        image.metadata.setdefault("name", item.name)
        self.cache.put(item.id, image)
        self.completed.emit(item, image)
        self._start_deferred()

    def _finish_failed(self, item: Item, series: ProgressiveSeries, exc: Exception) -> None:
        self._finishing.discard(item.id)
        if self._series.get(item.id) is series:
            self._forget(item.id)
            if item.id == self._current_id:
                self._failed(self._token, item, exc)
        self._start_deferred()

    def _start_deferred(self) -> None:
        if self._deferred is not None and not self._series:
            project, item = self._deferred
            self._deferred = None
            self.prefetch(project, item)

    # ------------------------------------------------------------------ lifetime
    def reset(self) -> None:
        """Forget everything (the project closed): late results are dropped."""
        self._token += 1
        self._generation = self._token
        self._waiting = None
        self._deferred = None
        self._current_id = None
        self._cancel_series(keep=None)
        self.cache.clear()
        self._prefetching.clear()

    def wait(self, msecs: int = 3000) -> bool:
        return self._pool.waitForDone(msecs)

"""Loads items' images off the GUI thread: latest request wins, recent images are cached,
and the next item in the list is read ahead so paging through a project feels instant."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThreadPool, Signal

from medview.core.errors import MedviewError
from medview.core.image import Image
from medview.core.project import Item, Project
from medview.ui import workers
from medview.ui.image_cache import ImageCache


def load(project: Project, item: Item) -> Image:
    from medview.io.readers import load_item  # the io layer is only needed once an item shows

    return load_item(project, item)


class ItemLoader(QObject):
    loaded = Signal(object, object)  # Item, Image
    failed = Signal(object, str)  # Item, reason for the user

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

    def request(self, project: Project, item: Item) -> bool:
        """Load ``item``; ``loaded``/``failed`` follow. True when it came from the cache
        (``loaded`` has then already been emitted)."""
        self._token += 1
        token = self._token
        cached = self.cache.get(item.id)
        self._waiting = None
        if cached is not None:
            self.loaded.emit(item, cached)
            return True
        if item.id in self._prefetching:
            self._waiting = (token, item)
            return False

        def work() -> Image | None:
            # A request the user has already scrolled past is not worth reading.
            return load(project, item) if token == self._token else None

        workers.start(
            work,
            on_done=lambda image: self._done(token, item, image),
            on_error=lambda exc: self._failed(token, item, exc),
            pool=self._pool,
        )
        return False

    def _done(self, token: int, item: Item, image: Image | None) -> None:
        if image is None or token != self._token:
            return
        self.cache.put(item.id, image)
        self.loaded.emit(item, image)

    def _failed(self, token: int, item: Item, exc: Exception) -> None:
        if token != self._token:
            return
        reason = str(exc) if isinstance(exc, MedviewError) else f"{type(exc).__name__}: {exc}"
        self.failed.emit(item, reason)

    def prefetch(self, project: Project, item: Item) -> None:
        if self.cache.get(item.id) is not None or item.id in self._prefetching:
            return
        self._prefetching.add(item.id)
        token = self._token

        def done(image: Image) -> None:
            self._prefetching.discard(item.id)
            waiting = self._take_waiting(item)
            if waiting is not None:
                self._done(waiting, item, image)
            elif self._current(token):  # not after the project was closed
                self.cache.put(item.id, image)

        def failed(exc: Exception) -> None:
            self._prefetching.discard(item.id)
            waiting = self._take_waiting(item)
            if waiting is not None:
                self._failed(waiting, item, exc)

        workers.start(load, project, item, on_done=done, on_error=failed, pool=self._pool)

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

    def reset(self) -> None:
        """Forget everything (the project closed): late results are dropped."""
        self._token += 1
        self._generation = self._token
        self._waiting = None
        self.cache.clear()
        self._prefetching.clear()

    def wait(self, msecs: int = 3000) -> bool:
        return self._pool.waitForDone(msecs)

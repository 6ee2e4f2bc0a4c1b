"""A small LRU cache of loaded images, bounded by bytes, so flipping back is instant."""

from __future__ import annotations

import os
from collections import OrderedDict

from medview.core.image import Image

DEFAULT_MAX_MB = 768


def default_max_bytes() -> int:
    """The budget for decoded images kept for flipping back: MEDVIEW_IMAGE_CACHE_MB (a
    machine with little memory, or one that holds many large volumes), else 768 MiB."""
    try:
        mb = float(os.environ.get("MEDVIEW_IMAGE_CACHE_MB", DEFAULT_MAX_MB))
    except ValueError:
        mb = DEFAULT_MAX_MB
    return max(0, int(mb * 1024 * 1024))


class ImageCache:
    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self._images: OrderedDict[int, Image] = OrderedDict()

    def get(self, item_id: int) -> Image | None:
        image = self._images.get(item_id)
        if image is not None:
            self._images.move_to_end(item_id)
        return image

    def put(self, item_id: int, image: Image) -> None:
        self._images[item_id] = image
        self._images.move_to_end(item_id)
        # Always keep the newest image, even if it alone is over the budget.
        while len(self._images) > 1 and self.total_bytes() > self.max_bytes:
            self._images.popitem(last=False)

    def total_bytes(self) -> int:
        return sum(image.array.nbytes for image in self._images.values())

    def discard(self, item_id: int) -> None:
        self._images.pop(item_id, None)

    def clear(self) -> None:
        self._images.clear()

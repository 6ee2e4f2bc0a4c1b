"""A small LRU cache of loaded images, bounded by bytes, so flipping back is instant."""

from __future__ import annotations

from collections import OrderedDict

from medview.core.image import Image


class ImageCache:
    def __init__(self, max_bytes: int = 768 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
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

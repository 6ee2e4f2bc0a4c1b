"""The in-memory image every reader returns and every view and model consumes.

Conventions (shared by readers, the slice view and the training engine):

* ``array`` is ordered (z, y, x) or (z, y, x, c) for colour; a 2D image has z == 1.
  It may be lazy: any array-like with ``shape``, ``dtype`` and ``__getitem__`` (a dask array,
  or a :class:`PlaneArray` around a callable that reads one z plane), so a microscope file
  is not read whole to show one slice. :meth:`Image.plane` reads one plane, :meth:`Image.loaded`
  everything.
* ``channel_names`` names the c axis of a multi-channel (microscopy) image, any number of
  channels; without names a 3- or 4-channel image is RGB(A) colour.
* ``spacing`` is the voxel size in millimetres in the same (z, y, x) order, always; readers
  convert micrometres (``UM_PER_MM``), and the status bar shows µm for microscopy items.
* ``origin`` is the patient-space position (x, y, z in mm, DICOM LPS) of voxel (0, 0, 0).
* ``direction[:, i]`` is the patient-space unit vector of array axis i, again in (z, y, x)
  order, so ``world = origin + direction @ (index * spacing)``.
* ``metadata`` is a small dict of display facts (modality, series description, notes such as
  "4D file: showing the first volume"). It never holds patient-identifying fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Spacing = tuple[float, float, float]
UM_PER_MM = 1000.0


class PlaneArray:
    """A lazy (z, y, x[, c]) array whose z planes come from ``read_plane(z)`` when indexed:
    the callable form of a lazy image (a reader without dask). Indexing by one z reads one
    plane; anything else reads the planes it needs."""

    ndim: int

    def __init__(
        self, shape: tuple[int, ...], dtype: Any, read_plane: Callable[[int], np.ndarray]
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self._read_plane = read_plane

    def __getitem__(self, key: Any) -> np.ndarray:
        index = key[0] if isinstance(key, tuple) else key
        rest = key[1:] if isinstance(key, tuple) else ()
        if isinstance(index, int | np.integer):
            z = int(index) % self.shape[0]
            return np.asarray(self._read_plane(z), dtype=self.dtype)[rest]
        if not isinstance(index, slice):
            raise TypeError(f"a lazy image is indexed by one z or a slice of z, not {index!r}")
        planes = range(*index.indices(self.shape[0]))
        if not len(planes):
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        return np.stack([self._plane(z) for z in planes])[(slice(None), *rest)]

    def _plane(self, z: int) -> np.ndarray:
        return np.asarray(self._read_plane(z), dtype=self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[:]
        return data if dtype is None else data.astype(dtype)


@dataclass
class Image:
    # np.ndarray, or a lazy array of the same shape and dtype (dask, PlaneArray): is_lazy.
    array: np.ndarray
    spacing: Spacing = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict[str, Any] = field(default_factory=dict)
    channel_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.array.ndim == 2:  # a bare 2D grayscale array: add the z axis
            self.array = self.array[np.newaxis]
        if self.array.ndim not in (3, 4):
            raise ValueError(f"image array must be (z, y, x[, c]), got shape {self.array.shape}")
        self.channel_names = tuple(str(n) for n in self.channel_names)
        if self.channel_names and len(self.channel_names) != self.channels:
            raise ValueError(
                f"{len(self.channel_names)} channel names for {self.channels} channel(s)"
            )
        if self.array.ndim == 4 and not self.channel_names and self.channels not in (1, 3, 4):
            raise ValueError(
                f"colour images need 1, 3 or 4 channels, got {self.channels} "
                "(name the channels of a multi-channel image)"
            )
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def kind(self) -> str:
        """``"2d"`` for a single slice, ``"3d"`` for a volume."""
        return "2d" if self.array.shape[0] == 1 else "3d"

    @property
    def is_rgb(self) -> bool:
        """Colour (RGB or RGBA) rather than named microscope channels."""
        return self.array.ndim == 4 and self.array.shape[-1] in (3, 4) and not self.channel_names

    @property
    def is_lazy(self) -> bool:
        """Whether pixels are read on demand (dask array or PlaneArray) rather than held."""
        return not isinstance(self.array, np.ndarray)

    def plane(self, z: int) -> np.ndarray:
        """One z plane, (y, x[, c]), as a numpy array: the only read a lazy image needs to
        show a slice."""
        return np.asarray(self.array[int(z)])

    def loaded(self) -> Image:
        """This image with every pixel read (itself when already in memory)."""
        if not self.is_lazy:
            return self
        return Image(
            np.asarray(self.array),
            spacing=self.spacing,
            origin=self.origin,
            direction=self.direction,
            metadata=self.metadata,
            channel_names=self.channel_names,
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape (z, y, x) without the channel axis."""
        return tuple(int(s) for s in self.array.shape[:3])

    @property
    def channels(self) -> int:
        return int(self.array.shape[3]) if self.array.ndim == 4 else 1

    def middle_slice(self) -> np.ndarray:
        """The middle axial slice: (y, x) or (y, x, c)."""
        return self.plane(self.array.shape[0] // 2)

    def index_to_world(self, index: tuple[float, float, float]) -> np.ndarray:
        """Patient-space position in mm (x, y, z) of a (z, y, x) voxel index."""
        scaled = np.asarray(index, dtype=float) * np.asarray(self.spacing)
        return np.asarray(self.origin) + self.direction @ scaled


def normalise_for_display(
    values: np.ndarray, low_percentile: float = 0.5, high_percentile: float = 99.5
) -> np.ndarray:
    """Scale to uint8 with a robust percentile window (thumbnails, previews)."""
    data = np.asarray(values, dtype=np.float32)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(data.shape, dtype=np.uint8)
    low, high = np.percentile(finite, [low_percentile, high_percentile])
    if high <= low:
        high = low + 1.0
    scaled = np.clip((data - low) / (high - low), 0.0, 1.0) * 255.0
    return np.nan_to_num(scaled).astype(np.uint8)

"""The in-memory image every reader returns and every view and model consumes.

Conventions (shared by readers, the slice view and the training engine):

* ``array`` is ordered (z, y, x) or (z, y, x, c) for colour; a 2D image has z == 1.
* ``spacing`` is the voxel size in millimetres in the same (z, y, x) order.
* ``origin`` is the patient-space position (x, y, z in mm, DICOM LPS) of voxel (0, 0, 0).
* ``direction[:, i]`` is the patient-space unit vector of array axis i, again in (z, y, x)
  order, so ``world = origin + direction @ (index * spacing)``.
* ``metadata`` is a small dict of display facts (modality, series description, notes such as
  "4D file: showing the first volume"). It never holds patient-identifying fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Spacing = tuple[float, float, float]


@dataclass
class Image:
    array: np.ndarray
    spacing: Spacing = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim == 2:  # a bare 2D grayscale array: add the z axis
            self.array = self.array[np.newaxis]
        if self.array.ndim not in (3, 4):
            raise ValueError(f"image array must be (z, y, x[, c]), got shape {self.array.shape}")
        if self.array.ndim == 4 and self.array.shape[-1] not in (1, 3, 4):
            raise ValueError(f"colour images need 1, 3 or 4 channels, got {self.array.shape[-1]}")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def kind(self) -> str:
        """``"2d"`` for a single slice, ``"3d"`` for a volume."""
        return "2d" if self.array.shape[0] == 1 else "3d"

    @property
    def is_rgb(self) -> bool:
        return self.array.ndim == 4 and self.array.shape[-1] in (3, 4)

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape (z, y, x) without the channel axis."""
        return tuple(int(s) for s in self.array.shape[:3])

    @property
    def channels(self) -> int:
        return int(self.array.shape[3]) if self.array.ndim == 4 else 1

    def middle_slice(self) -> np.ndarray:
        """The middle axial slice: (y, x) or (y, x, c)."""
        return self.array[self.array.shape[0] // 2]

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

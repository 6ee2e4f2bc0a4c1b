"""Perceptual hashes: near-duplicate images (a resized, re-encoded or slightly noisy copy) have
hashes a few bits apart, where content hashes differ completely.

The hash is the classic DCT pHash (Zauner 2010, as in the ``imagehash`` package): the picture
shrunk to 32 x 32, its 2D DCT, the 8 x 8 lowest frequencies, one bit each for "above the median
of those 64 coefficients (DC left out of the median)". Written here on scipy's DCT rather than
taking ``imagehash``: the algorithm is fifteen lines, scipy is already installed with
scikit-learn, and ``imagehash`` would bring PyWavelets and work only on PIL images, while
medview hashes float slices of volumes too.

2D items are hashed from their thumbnail rendering (the display the browser shows, so the
window/percentile normalisation makes the hash independent of bit depth and gain); 3D items
from their three central orthogonal slices, concatenated (192 bits). Hashes are hex strings.
Per 2D item this costs about 1 ms after decoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from medview.core.image import Image, normalise_for_display

HASH_SIZE = 8  # 8 x 8 low frequencies = 64 bits per plane
SHRINK = 32
# Two pictures are near-duplicates when at most this many bits per 64 differ. Measured with
# bench/phash_fp.py: 1 of 124 750 pairs of 500 unrelated generated images and 194 of 5.0 M
# pairs of the PneumoniaMNIST subset (chest X-rays, all alike at 28 px) fall within it, while
# resized, noisy and JPEG-70 copies do (96-100 %). 8 bits would also catch the last few
# noisy X-ray copies but flags 38x more unrelated X-ray pairs (7 302).
MAX_DISTANCE = 4
# Volumes (three central planes) are held to half that. Volumes of one protocol share their
# anatomy and position, so unrelated ones sit close in pHash: the bundled example's distinct
# synthetic volumes are 8-20 bits apart over the three planes (4 per plane grouped 22 of its
# 40), while a re-export with another rescale is 0 bits away and lightly noised copies 0-6.
# Known limit: in noisy volumes the voxel noise sets many bits, so a resampled copy (10-16
# bits) is missed; a better 3D signature is future work.
MAX_DISTANCE_3D = 2


_DCT_ROWS: np.ndarray | None = None


def _dct_rows() -> np.ndarray:
    """The first HASH_SIZE rows of the orthonormal DCT-II matrix of size SHRINK (scipy's):
    ``D @ X @ D.T`` is exactly the low-frequency corner of ``scipy.fft.dctn(X, norm="ortho")``,
    without transforming the 32 x 32 coefficients the hash throws away."""
    global _DCT_ROWS
    if _DCT_ROWS is None:
        from scipy.fft import dct

        _DCT_ROWS = dct(np.eye(SHRINK), norm="ortho", axis=0)[:HASH_SIZE]
    return _DCT_ROWS


def _plane_bits(plane: np.ndarray) -> np.ndarray:
    from PIL import Image as PILImage

    data = np.asarray(plane, dtype=np.float32)
    if data.ndim == 3:  # RGB(A): luminance, as a viewer would see it
        rgb = data[..., :3]
        data = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    data = np.nan_to_num(data)
    # Area averaging when shrinking (fast, and anti-aliased like the classic Lanczos step);
    # bilinear for pictures smaller than 32 px (MedMNIST's 28 px).
    shrink = min(data.shape) >= SHRINK
    method = PILImage.Resampling.BOX if shrink else PILImage.Resampling.BILINEAR
    small = np.asarray(PILImage.fromarray(data, mode="F").resize((SHRINK, SHRINK), method))
    d = _dct_rows()
    low = (d @ small.astype(np.float64) @ d.T).ravel()
    return low > np.median(low[1:])


def _to_hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def hash_plane(plane: np.ndarray) -> str:
    """The 64-bit pHash of one 2D picture (gray or RGB), as 16 hex digits."""
    return _to_hex(_plane_bits(plane))


def central_planes(image: Image) -> list[np.ndarray]:
    """A volume's three central orthogonal slices (axial, coronal, sagittal), display-scaled."""
    data = np.asarray(image.array)
    if data.ndim == 4:
        data = data[..., :3].mean(axis=-1)
    z, y, x = (s // 2 for s in data.shape[:3])
    return [normalise_for_display(p) for p in (data[z], data[:, y, :], data[:, :, x])]


def display_plane(image: Image) -> np.ndarray:
    """A 2D item as its thumbnail shows it (medview.io.thumbnails.make_thumbnail's rendering:
    RGB photos as they are, CT in the soft-tissue window, else percentile-normalised), before
    the resize to thumbnail size, which would add nothing the 32 px hash can see."""
    from medview.core.display import CT_SOFT_TISSUE, apply_window, channel_composite, is_ct

    middle = image.middle_slice()
    if image.channel_names and middle.ndim == 3:
        return channel_composite(middle)  # named microscope channels, as the thumbnail
    if middle.ndim == 3 and middle.dtype == np.uint8:
        return middle
    if is_ct(image):
        return apply_window(middle, *CT_SOFT_TISSUE)
    return normalise_for_display(middle)


def hash_image(image: Image) -> str:
    """pHash of an item: of its thumbnail rendering (2D) or of its three central slices (3D)."""
    if image.array.shape[0] > 1 and image.is_lazy:
        # A lazy (microscope) volume is never read whole at import: three axial planes, at
        # a quarter, half and three quarters of its depth, stand in for the orthogonal ones.
        depth = image.array.shape[0]
        return "".join(hash_plane(_plane_display(image, depth * k // 4)) for k in (1, 2, 3))
    if image.array.shape[0] > 1:
        return "".join(hash_plane(p) for p in central_planes(image))
    return hash_plane(display_plane(image))


def _plane_display(image: Image, z: int) -> np.ndarray:
    from medview.core.display import channel_composite

    plane = image.plane(z)
    if plane.ndim == 3:
        return channel_composite(plane) if image.channel_names else plane[..., :3]
    return normalise_for_display(plane)


def distance(a: str, b: str) -> int | None:
    """Differing bits per 64 (summed over planes, then scaled to one plane); None when the
    hashes are of different kinds (a 2D image and a volume)."""
    if len(a) != len(b) or not a:
        return None
    x = int(a, 16) ^ int(b, 16)
    planes = len(a) // 16
    return round(x.bit_count() / planes)


def near_duplicate_groups(
    hashes: Iterable[tuple[int, str]],
    max_distance: int = MAX_DISTANCE,
    max_distance_3d: int = MAX_DISTANCE_3D,
) -> list[list[int]]:
    """Item ids in groups of two or more whose hashes are within ``max_distance`` of another
    member (single linkage: A~B and B~C put A, B, C together). Sorted, largest groups first.

    Pairwise on packed integers: 10 000 items are 50 M comparisons, a few seconds in numpy;
    medview projects are far smaller.
    """
    by_length: dict[int, list[tuple[int, int]]] = {}
    for item_id, text in hashes:
        if text:
            by_length.setdefault(len(text), []).append((item_id, int(text, 16)))
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for length, entries in by_length.items():
        planes = length // 16
        ids = [i for i, _ in entries]
        words = _as_words([v for _, v in entries], planes)
        limit = (max_distance if planes == 1 else max_distance_3d) * planes
        for k in range(len(ids) - 1):
            bits = _popcount(words[k + 1 :] ^ words[k]).sum(axis=1)
            for offset in np.flatnonzero(bits <= limit):
                a, b = find(ids[k]), find(ids[k + 1 + int(offset)])
                if a != b:
                    parent[a] = b
    groups: dict[int, list[int]] = {}
    for i in parent:
        groups.setdefault(find(i), []).append(i)
    out = [sorted(g) for g in groups.values() if len(g) > 1]
    return sorted(out, key=lambda g: (-len(g), g[0]))


def _as_words(values: Sequence[int], planes: int) -> np.ndarray:
    mask = (1 << 64) - 1
    return np.array(
        [[(v >> (64 * p)) & mask for p in range(planes)] for v in values], dtype=np.uint64
    ).reshape(len(values), planes)


def _popcount(words: np.ndarray) -> np.ndarray:
    return np.bitwise_count(words) if hasattr(np, "bitwise_count") else _popcount_slow(words)


def _popcount_slow(words: np.ndarray) -> np.ndarray:
    out = np.zeros(words.shape, dtype=np.int64)
    w = words.copy()
    for _ in range(64):
        out += (w & np.uint64(1)).astype(np.int64)
        w >>= np.uint64(1)
    return out

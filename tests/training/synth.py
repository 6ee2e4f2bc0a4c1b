"""The fallback reader used only while medview.io is not importable (kept for the entry points
in mv_entry.py). The synthetic projects themselves live in tests/projects.py."""

from __future__ import annotations

import numpy as np

from medview.core.project import Project


def _fallback_read(project: Project, item):
    import nibabel as nib
    from PIL import Image as PILImage

    from medview.core.image import Image

    if item.reader == "nifti":
        arr = np.asarray(nib.load(item.paths[0]).dataobj, dtype=np.float32)
        return Image(arr)
    return Image(np.asarray(PILImage.open(item.paths[0]))[np.newaxis])


def install_fallback_reader() -> bool:
    """Point training.data at the fallback reader if medview.io is not there yet."""
    try:
        from medview.io.readers import load_item  # noqa: F401
    except ImportError:
        import training.data

        training.data._read_item = _fallback_read
        return True
    return False

"""Readers and the importer: files on disk -> ``medview.core.image.Image`` / project items.

``read_image``, ``load_item`` and ``scan`` live in :mod:`medview.io.readers`;
``import_sources`` in :mod:`medview.io.importer`; thumbnails and re-linking in their own modules.
"""

from medview.io.readers import Candidate, ScanResult, Skipped, load_item, read_image, scan

__all__ = ["Candidate", "ScanResult", "Skipped", "load_item", "read_image", "scan"]

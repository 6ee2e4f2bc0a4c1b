"""File formats behind one reader interface (:mod:`medview.io.formats.base`), all registered
in :mod:`medview.io.formats.registry`."""

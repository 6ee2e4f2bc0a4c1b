"""The desktop window (PySide6 + pyqtgraph). The only package that imports Qt.

Nothing here imports torch: the window must open in well under two seconds, and training runs
in its own process (see docs/DESIGN.md section 1).
"""

from medview.ui import compat as _compat

_compat.apply()

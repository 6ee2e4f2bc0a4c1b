"""Suite-wide settings: offscreen Qt, few threads, no stray user settings."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MEDVIEW_DEBUG", "")

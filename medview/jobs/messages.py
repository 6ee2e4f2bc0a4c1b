"""Compatibility alias: the message protocol lives in ``medview.core.messages`` (the engine
may import it there without importing ``medview.jobs``). New code imports that module."""

from medview.core.messages import *  # noqa: F403
from medview.core.messages import TERMINAL, TYPES, from_dict  # noqa: F401

"""The error types, importable from here as before; they live in :mod:`kaizen_tui.core.errors`."""

from kaizen_tui.core.errors import *  # noqa: F403
from kaizen_tui.core.errors import __all__  # noqa: F401

"""Suite-wide settings.

Hypothesis's per-example deadline (200 ms by default) measures the machine, not the code: on a
2-core box running a server or a CPU hog beside the suite, one example of a pure function took
356 ms once and failed a run. Properties are checked without a deadline; runaway examples are
still bounded by pytest-timeout.

A socket transport the suite leaves open fails the test during which the garbage collector
finds it ("unclosed transport", an error under ``filterwarnings = error``), which is often a
later test than the one that leaked it. So each transport notes where it was opened and during
which test, and the warning says so: a leak that shows up once names its origin.
"""

from __future__ import annotations

import os
import traceback
import warnings
from asyncio import selector_events
from typing import Any

from hypothesis import settings

# The test kit's fixtures (livebase_app, make_livebase_app) for every directory: pytest only
# takes ``pytest_plugins`` from the top-level conftest (or one it loads before configuring, such
# as tests/test*/conftest.py), so a folder like tests/search cannot declare it itself.
pytest_plugins = ["livebase.testing"]

settings.register_profile("livebase", deadline=None)
settings.load_profile("livebase")

_Transport: Any = selector_events._SelectorTransport
_original_init = _Transport.__init__


def _init_noting_origin(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    test = os.environ.get("PYTEST_CURRENT_TEST", "(no test running)")
    self._opened_at = f"during {test}\n" + "".join(traceback.format_stack(limit=14)[:-1])


def _del_naming_origin(self: Any, _warn: Any = warnings.warn) -> None:
    if self._sock is not None:
        origin = getattr(self, "_opened_at", "(unknown)")
        _warn(f"unclosed transport {self!r}, opened at:\n{origin}", ResourceWarning, source=self)
        self._sock.close()


_Transport.__init__ = _init_noting_origin
_Transport.__del__ = _del_naming_origin

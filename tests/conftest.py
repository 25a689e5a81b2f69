"""Suite-wide settings.

Hypothesis's per-example deadline (200 ms by default) measures the machine, not the code: on a
2-core box running a server or a CPU hog beside the suite, one example of a pure function took
356 ms once and failed a run. Properties are checked without a deadline; runaway examples are
still bounded by pytest-timeout.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("livebase", deadline=None)
settings.load_profile("livebase")

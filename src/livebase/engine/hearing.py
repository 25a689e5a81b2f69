"""Whether a node listens for other nodes' commits: not while its own batches follow one another.

On a shared database every commit notifies every listening node (``Storage.watch_commits``),
the committing node included, and each notification wakes a PostgreSQL backend and a node's
event loop. A node whose batches begin back to back needs none of it: each batch reads the
other nodes' commits with the clock and delivers them first (``Engine.follow``). So after
``MUTE_AFTER`` batches in a row, each begun within the follow grace of the one before landing,
the node stops listening; as soon as it pauses (no batch in flight or queued for the grace) it
listens again, and once the ``LISTEN`` holds the watch wakes the follower, which reads what was
committed meanwhile. While it does not listen, the follower looks every grace.

Measured with three nodes and sixteen writers on two vCPUs (``docs/benchmarks.md``): hearing
every commit cost the nodes and PostgreSQL about a sixth of the write rate.
"""

from __future__ import annotations

from livebase.storage.base import CommitWatch

MUTE_AFTER = 8
"""Batches in a row, each begun within the grace of the one before landing, after which a node
stops listening: a few, so a node that commits now and then keeps hearing at once."""


class Hearing:
    """The listening state of one node's ``Engine.follow``."""

    def __init__(self, watch: CommitWatch | None = None) -> None:
        self.watch = watch
        self.muted = False
        """Listening is off: this node's batches bring the other nodes' commits."""
        self._in_a_row = 0

    def batch_began(self, gap: float, grace: float) -> None:
        """A batch that reads the other nodes' commits began ``gap`` seconds after the one
        before it landed."""
        self._in_a_row = self._in_a_row + 1 if gap < grace else 0
        if self.watch is not None and not self.muted and self._in_a_row >= MUTE_AFTER:
            self.muted = True
            self.watch.listen(False)

    def paused(self) -> None:
        """The node has had nothing in flight or queued for the grace: listen again (the
        watch wakes the follower once it hears)."""
        if self.muted:
            assert self.watch is not None
            self.muted = False
            self._in_a_row = 0
            self.watch.listen(True)

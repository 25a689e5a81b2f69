"""When a node's next batch waits for the writers its last batch answered (shared database,
while other nodes commit).

A node sends one batch at a time; while it is in flight, the mutations that arrive run ahead
into the next one (``optimistic.Ahead``), which used to go out the moment the first landed.
With every node busy that splits a node's writers into two groups that take turns, each
answered while the other is in flight: on three nodes with sixteen writers, batches of about
2.9 mutations against 5.6 on one node. Each batch costs about as much as several mutations (a
transaction, the clock, the commit, a round trip: on the benchmark VM about 0.5 ms of node CPU
and 0.3 ms of PostgreSQL CPU), so three nodes took 0.74-0.91 of one node's rate.

So while other nodes commit, the batch that follows one that landed stays open a little
longer: until as many mutations have joined it as the landed batch answered (those writers'
next calls), or ``HOLD_SECONDS`` pass, whichever comes first. On that VM the writers were back
in 1.5 ms (median; 2.2 ms at the 75th percentile), batches grew to 5-6 mutations, and three
nodes went to 0.83-0.99 of one node's rate (medians 0.77 before, 0.96 after, six alternating
rounds; ``docs/benchmarks.md``).

Like PostgreSQL's ``commit_delay``, which waits only while ``commit_siblings`` other
transactions are active, it trades a little latency of the writers already waiting for fewer,
larger commits, and only under contention: a node alone never holds (holding cost a lone node
a fifth of its rate: nobody waits at its clock, and its loop had CPU to spare for small
batches). Writers that do not come back (each calls once) make holds expire; after
``MISSES_BEFORE_BACKING_OFF`` expiries in a row a node holds only one batch in
``PROBE_EVERY``, until a hold is answered again. Nothing about what commits, or in which order,
changes: a held batch is the batch that ran ahead, sent later.
"""

from __future__ import annotations

HOLD_SECONDS = 0.005
"""The longest a batch waits for the writers the batch before it answered."""
MISSES_BEFORE_BACKING_OFF = 3
"""Holds in a row that expired, after which a node holds only one batch in ``PROBE_EVERY``."""
PROBE_EVERY = 16


class Gathering:
    """One node's holds: whether the next batch waits, and for how many mutations."""

    def __init__(self, hold_seconds: float = HOLD_SECONDS) -> None:
        self.hold_seconds = hold_seconds
        self.target = 0
        """Mutations the held batch waits for (those already in it and the writers answered)."""
        self.holds = 0
        self.gathered = 0
        """Holds that ended with every answered writer back (``holds`` minus expired, stopped)."""
        self.expired = 0
        self._misses = 0
        self._passed = 0

    def hold(self, answered: int, waiting: int) -> bool:
        """A batch that answered ``answered`` callers landed, and ``waiting`` mutations have
        run ahead into the next one: whether the next waits (then for ``target``)."""
        if answered <= 0:
            return False
        if self._misses >= MISSES_BEFORE_BACKING_OFF:
            self._passed += 1
            if self._passed % PROBE_EVERY:
                return False
        self.target = waiting + answered
        self.holds += 1
        return True

    def complete(self, joined: int) -> bool:
        """Whether ``joined`` mutations in the held batch end the hold: the writers are back."""
        if joined < self.target:
            return False
        self.gathered += 1
        self._misses = self._passed = 0
        return True

    def expire(self) -> None:
        """The hold ran its time without every writer back."""
        self.expired += 1
        self._misses += 1


__all__ = ["HOLD_SECONDS", "MISSES_BEFORE_BACKING_OFF", "PROBE_EVERY", "Gathering"]

"""Transactions over storage: snapshot reads, read sets, schema-checked writes, group commit."""

from livebase.engine.batch import Commit, MutationOutcome
from livebase.engine.database import Engine
from livebase.engine.query import IndexRange, Query
from livebase.engine.reads import Interval, ReadSet
from livebase.engine.transaction import UNSET, Transaction, Write

__all__ = [
    "UNSET",
    "Commit",
    "Engine",
    "IndexRange",
    "Interval",
    "MutationOutcome",
    "Query",
    "ReadSet",
    "Transaction",
    "Write",
]

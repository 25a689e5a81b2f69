"""Housekeeping: end idle sessions every minute (idle after ``AGENTFEED_IDLE_MINUTES``, default
30) and delete blobs whose ingestion never committed, every five minutes."""

from livebase import Crons

from .blobs import sweep
from .sessions import end_idle
from .settings import idle_minutes

PENDING_BLOB_MINUTES = 60

crons = Crons()
crons.interval("end idle sessions", end_idle, {"idle_minutes": idle_minutes()}, minutes=1)
crons.interval(
    "sweep pending blobs", sweep, {"older_than_minutes": PENDING_BLOB_MINUTES}, minutes=5
)

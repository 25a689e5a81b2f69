"""Housekeeping: end idle sessions every minute (idle after ``AGENTFEED_IDLE_MINUTES``, default
30), delete blobs whose ingestion never committed every five minutes, and every minute give
documents stored before redacted copies existed (or by older rules) a current one, and session
vectors the prompts stored before they existed (``similar.backfill``, until it has seen all)."""

from livebase import Crons

from .blobs import sweep
from .enrichment import tick as age_activity_sessions
from .events import refresh_redacted
from .sessions import end_idle
from .settings import idle_minutes
from .similar import backfill as backfill_vectors

PENDING_BLOB_MINUTES = 60

crons = Crons()
crons.interval("end idle sessions", end_idle, {"idle_minutes": idle_minutes()}, minutes=1)
crons.interval("session vectors of old prompts", backfill_vectors, {}, minutes=1)
crons.interval(
    "sweep pending blobs", sweep, {"older_than_minutes": PENDING_BLOB_MINUTES}, minutes=5
)
crons.interval("refresh redacted copies", refresh_redacted, {}, minutes=1)
crons.interval("pause and end activity sessions", age_activity_sessions, {}, minutes=1)

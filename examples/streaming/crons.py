"""Housekeeping: stale presence rows are deleted every minute."""

from livebase import Crons

from .presence import expire

crons = Crons()
crons.interval("expire stale presence", expire, {}, minutes=1)

"""A cron for the Schedules panel."""

from livebase import Crons

crons = Crons()
crons.interval("tidy up", "counters:increment", {"name": "tidy"}, hours=1)

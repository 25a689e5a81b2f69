"""Housekeeping: finished webhooks are purged after a day, checked every hour."""

from livebase import Crons

from .webhooks import purge

crons = Crons()
crons.interval("purge finished webhooks", purge, {"older_than_hours": 24}, hours=1)

"""Housekeeping: old deliveries are deleted every day; stuck ones are retried every hour."""

from livebase import Crons

from .github import cleanup, requeue_stuck

crons = Crons()
crons.daily("delete old deliveries", cleanup, {"days": 7}, hour_utc=3, minute_utc=15)
crons.interval("requeue stuck deliveries", requeue_stuck, {}, hours=1)

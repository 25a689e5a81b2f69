"""Built-in accounts, so the dashboard's Users panel has something to show."""

from livebase import builtin

providers = [builtin()]

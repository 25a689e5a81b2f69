"""Who may sign in: Livebase's own email + password accounts (``livebase users add``)."""

from livebase import builtin

providers = [builtin()]

"""Who may sign in: only this server's own email + password accounts (Livebase's built-in
issuer). agentfeed has no sign-up: accounts are made by whoever runs the server (``agentfeed
owner EMAIL``, ``AGENTFEED_OWNER_EMAIL`` with ``agentfeed serve``, ``livebase users add``), so
every signed-in caller is an owner (``access.py``)."""

from livebase import builtin

providers = [builtin()]

"""Environment variables per deployment: ``livebase env ...``, ``/api/admin/env`` and ``ctx.env``.

``names`` checks names and sizes (Convex's rules), ``cipher`` keeps the AES-GCM key and
encrypts each value, ``store`` keeps the encrypted values in the database's globals and a
decrypted copy in memory, ``view`` is the read-only mapping functions see as ``ctx.env``,
``endpoints`` the admin API and ``cli`` the command.
"""

from livebase.envvars.store import EnvStore
from livebase.envvars.view import EnvView, empty_view

__all__ = ["EnvStore", "EnvView", "empty_view"]

"""Exceptions raised by ``livebase.client``.

::

    ClientError                  base of everything this package raises
    ├── FunctionError            the function ran and failed (``AppError`` data in ``.data``)
    ├── ConnectionLostError      an action was in flight when the connection dropped
    ├── ConnectionClosedError    the client was closed (explicitly, or before the call finished)
    ├── InvalidArgumentsError    arguments that are not Convex values (also a ``ValueError``)
    ├── ProtocolError            the server sent a message that breaks the sync protocol
    └── ChangeStreamError        the server refused a change stream (bad cursor, no admin key)
        └── CursorExpiredError   the cursor is older than the retained change log

Connection trouble alone never raises: the client reconnects and carries on. Only closing the
client fails what is still pending, with ``ConnectionClosedError``.
"""

from __future__ import annotations

from livebase.values.types import Value


class ClientError(Exception):
    """Base class of every error raised by ``livebase.client``."""


class FunctionError(ClientError):
    """A query, mutation or action failed on the server.

    ``message`` is the server's error message. ``data`` is the decoded value the function passed
    to ``AppError`` (Convex's ``ConvexError`` ``errorData``), or ``None`` for other failures.
    """

    def __init__(self, message: str, data: Value = None, *, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.path = path

    def __repr__(self) -> str:
        return f"FunctionError({self.message!r}, data={self.data!r}, path={self.path!r})"


class ConnectionLostError(ClientError):
    """The connection dropped while an action was running; it may or may not have run.

    Actions are not idempotent, so unlike mutations they are never resent after a reconnect.
    """


class ConnectionClosedError(ClientError):
    """The client was closed before the call finished, or a call was made after closing."""


class InvalidArgumentsError(ClientError, ValueError):
    """Function arguments that cannot be encoded as Convex values."""


class ProtocolError(ClientError):
    """The server sent something the sync protocol does not allow (the client reconnects)."""


class ChangeStreamError(ClientError):
    """The server refused ``Client.changes()``: ``status`` is the HTTP status, ``code`` the
    server's error code (``Unauthenticated``, ``InvalidCursor``...). Not retried."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class CursorExpiredError(ChangeStreamError):
    """The cursor is older than the server's retained change log: changes after it are gone.
    Reload a snapshot of the data and restart the stream without a cursor."""


__all__ = [
    "ChangeStreamError",
    "ClientError",
    "ConnectionClosedError",
    "ConnectionLostError",
    "CursorExpiredError",
    "FunctionError",
    "InvalidArgumentsError",
    "ProtocolError",
]

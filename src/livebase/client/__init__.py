"""Livebase's Python client: asyncio-native, speaking the Convex sync protocol over WebSocket.

``Client`` is the asyncio client (``async with Client(url) as c``: ``await c.query(...)``,
``await c.mutation(...)``, ``await c.action(...)``, ``async for v in c.subscribe(...)``);
``SyncClient`` is a blocking wrapper running it on a background thread. Both work against
Livebase and against any server that speaks the same protocol as the official Convex clients.

``client.changes(tables=..., cursor=...)`` iterates over the change stream (every committed
write, resumable exactly from a cursor; admin key required).

Errors derive from ``ClientError``; a failed function raises ``FunctionError`` with the
``AppError`` data in ``.data``.
"""

from livebase.client.changes import Change, ChangeStream
from livebase.client.client import Client
from livebase.client.errors import (
    ChangeStreamError,
    ClientError,
    ConnectionClosedError,
    ConnectionLostError,
    CursorExpiredError,
    FunctionError,
    InvalidArgumentsError,
    ProtocolError,
)
from livebase.client.subscription import Subscription
from livebase.client.sync import SyncChangeStream, SyncClient, SyncSubscription

__all__ = [
    "Change",
    "ChangeStream",
    "ChangeStreamError",
    "Client",
    "ClientError",
    "ConnectionClosedError",
    "ConnectionLostError",
    "CursorExpiredError",
    "FunctionError",
    "InvalidArgumentsError",
    "ProtocolError",
    "Subscription",
    "SyncChangeStream",
    "SyncClient",
    "SyncSubscription",
]

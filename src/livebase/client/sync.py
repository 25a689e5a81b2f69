"""``SyncClient``: a blocking wrapper that runs ``Client`` on a background event-loop thread.

::

    with SyncClient("http://127.0.0.1:3210") as c:
        c.mutation("messages:send", {"channel": "general", "body": "hi"})
        for messages in c.subscribe("messages:list", {"channel": "general"}):
            ...

Every call blocks the calling thread only (not the GIL), accepts an optional ``timeout`` in
seconds (``TimeoutError`` when it expires), and may be made from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from livebase.client.changes import Change, ChangeStream
from livebase.client.client import Args, Client
from livebase.client.errors import ConnectionClosedError
from livebase.client.subscription import Subscription
from livebase.values.types import Value

T = TypeVar("T")
P = ParamSpec("P")


class SyncClient:
    """The blocking counterpart of ``Client`` (same constructor arguments)."""

    def __init__(
        self,
        url: str,
        *,
        admin_key: str | None = None,
        inactivity_timeout: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
    ) -> None:
        self._client = Client(
            url,
            admin_key=admin_key,
            inactivity_timeout=inactivity_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="livebase-client", daemon=True
        )
        self._thread.start()
        self._closed = False
        self._call(self._client.__aenter__())

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._closed:
            coro.close()
            raise ConnectionClosedError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    @property
    def client(self) -> Client:
        """The underlying asyncio client (use it only on the background loop)."""
        return self._client

    @property
    def session_id(self) -> str:
        return self._client.session_id

    def set_admin_auth(self, admin_key: str) -> None:
        self._call(_run(self._client.set_admin_auth, admin_key))

    def set_auth(self, token: str) -> None:
        self._call(_run(self._client.set_auth, token))

    def clear_auth(self) -> None:
        self._call(_run(self._client.clear_auth))

    def query(self, path: str, args: Args = None, *, timeout: float | None = None) -> Value:
        return self._call(self._client.query(path, args), timeout)

    def mutation(self, path: str, args: Args = None, *, timeout: float | None = None) -> Value:
        return self._call(self._client.mutation(path, args), timeout)

    def action(self, path: str, args: Args = None, *, timeout: float | None = None) -> Value:
        return self._call(self._client.action(path, args), timeout)

    def subscribe(self, path: str, args: Args = None) -> SyncSubscription:
        """An iterator over the query's results (see ``Subscription``); ``close()`` it, use it
        as a context manager, or just stop iterating and drop it."""
        sub = self._call(_run(self._client.subscribe, path, args))
        return SyncSubscription(self, sub)

    def changes(
        self, tables: Sequence[str] | None = None, cursor: str | None = None
    ) -> SyncChangeStream:
        """The change stream as a blocking iterator (see ``Client.changes``)."""
        stream = self._call(_run(self._client.changes, tables, cursor))
        return SyncChangeStream(self, stream)

    def close(self) -> None:
        """Close the client and stop its thread (idempotent)."""
        if self._closed:
            return
        try:
            self._call(self._client.close(), timeout=10.0)
            self._call(_settle(), timeout=10.0)
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Blocking(Iterator[T]):
    """A blocking iterator over an async one on the client's loop: ``next(timeout)`` waits at
    most ``timeout`` seconds (``TimeoutError``) and loses nothing when it times out."""

    def __init__(self, owner: SyncClient, source: Subscription | ChangeStream) -> None:
        self._owner = owner
        self._source = source

    def __iter__(self) -> _Blocking[T]:
        return self

    def __next__(self) -> T:
        return self.next()

    def next(self, timeout: float | None = None) -> T:
        done, item = self._owner._call(_next(self._source), timeout)
        if done:
            raise StopIteration
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self._source.closed and not self._owner._closed:
            self._owner._call(self._source.aclose())

    def __enter__(self) -> _Blocking[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncSubscription(_Blocking[Value]):
    """A blocking iterator over a live query's results."""

    def __init__(self, owner: SyncClient, subscription: Subscription) -> None:
        super().__init__(owner, subscription)
        self._sub = subscription

    @property
    def path(self) -> str:
        return self._sub.path

    @property
    def latest(self) -> Value:
        """The newest result (see ``Subscription.latest``)."""
        return self._owner._call(_latest(self._sub))


class SyncChangeStream(_Blocking[Change]):
    """A blocking iterator over the change stream."""

    def __init__(self, owner: SyncClient, stream: ChangeStream) -> None:
        super().__init__(owner, stream)
        self._stream = stream

    @property
    def cursor(self) -> str | None:
        return self._stream.cursor


async def _run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a plain function on the loop thread."""
    return fn(*args, **kwargs)


async def _next(source: Subscription | ChangeStream) -> tuple[bool, Any]:
    # StopAsyncIteration is turned into a flag: it should not travel through futures.
    try:
        return False, await source.__anext__()
    except StopAsyncIteration:
        return True, None


async def _settle() -> None:
    """Let the loop finish what closing scheduled: a transport closed while its connection was
    being set up (a stream cancelled mid-connect) releases its socket one iteration later, and a
    loop stopped before that leaves an unclosed socket behind."""
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    for _ in range(3):
        await asyncio.sleep(0)


async def _latest(sub: Subscription) -> Value:
    return sub.latest


__all__ = ["SyncChangeStream", "SyncClient", "SyncSubscription"]

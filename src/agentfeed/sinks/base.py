"""What every sink is: something that takes a batch of records (events shaped by the app's
``sinks/outbox:outgoing``) and delivers them all, or says why not.

A sink raises ``Unavailable`` when the destination cannot take anything right now (down,
unreachable, overloaded, refusing our credentials): the runner keeps the batch and retries it,
with backoff, for as long as it takes, so nothing is lost and order is kept. It raises
``Rejected`` when the destination refused the content itself: the runner splits the batch to
find the records at fault, retries each a few times, and files those that still fail as dead
letters.
"""

from __future__ import annotations

from typing import Any, Protocol

Record = dict[str, Any]
"""One event as it leaves the machine (see ``apps/agentfeed/sinks/outbox.py``)."""


class Unavailable(Exception):
    """The destination cannot take anything now; the same batch is retried later."""


class Rejected(Exception):
    """The destination refused this content; retrying it as it is may never help."""


class Fatal(Exception):
    """A problem no retry fixes (the server refuses the admin key): the sink stops, saying so."""


class Sink(Protocol):
    name: str
    max_batch: int

    async def open(self) -> None:
        """Connect (or check the destination); raise ``Unavailable`` if it cannot be reached."""

    async def deliver(self, records: list[Record]) -> None:
        """Deliver every record, in order, or raise ``Unavailable`` / ``Rejected``."""

    async def after_batch(self) -> None:
        """Called after each batch has been delivered and saved (MQTT publishes its state)."""

    async def close(self) -> None:
        """Disconnect cleanly (MQTT says it is offline)."""


def http_failure(status: int, text: str, where: str) -> Exception:
    """The exception for an HTTP answer that is not 2xx: the content's fault (``Rejected``) for
    400/409/413/415/422 and 500, else (401/403/404/408/429/502/503/504...) ``Unavailable``: a
    configuration or availability problem that retrying after a fix or a wait resolves."""
    message = f"{where} answered {status}: {text[:300]}"
    if status in (400, 409, 413, 415, 422, 500):
        return Rejected(message)
    return Unavailable(message)

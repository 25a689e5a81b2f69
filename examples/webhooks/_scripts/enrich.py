"""An enrichment consumer on the change stream: follows ``webhooks`` changes from a saved cursor
and prints each finished webhook; run it beside ``livebase dev examples/webhooks``::

    python examples/webhooks/_scripts/enrich.py http://127.0.0.1:3210 ADMIN_KEY

It keeps its cursor in ``.enrich-cursor``; stop and start it at will, it resumes exactly where it
stopped (nothing missed, nothing twice).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from livebase.client import Client

CURSOR_FILE = Path(".enrich-cursor")


async def main(url: str, admin_key: str) -> None:
    cursor = CURSOR_FILE.read_text().strip() if CURSOR_FILE.exists() else None
    async with Client(url, admin_key=admin_key) as client:
        async for change in client.changes(tables=["webhooks"], cursor=cursor):
            doc = change.document
            if change.operation != "delete" and doc is not None and doc["status"] == "done":
                print(f"{doc['source']}: {doc['_id']} done after {doc['attempts']} attempt(s)")
            CURSOR_FILE.write_text(change.cursor)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

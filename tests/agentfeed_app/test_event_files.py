"""Large fields of events are files (``blobs.py``) on a real server: the event keeps its summary
and a preview, its reference the file's size, sha256 and content type, the file the bytes; the
owner's ``GET /raw`` reads them back, the public never (it gets the redacted preview, and no
file metadata); blobs stored in chunks before files existed still read back; and the sweep
deletes a pending blob's file."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed, add_owner, launch_variant, sign_in
from tests.agentfeed_app.payloads import hook
from tests.support.calls import call

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CWD = "/home/u/files-app"
SECRET = "sk_live_" + "51HqLyjWDarjtT1zdp7dc0Q9x"
TESTONLY = '''"""Test only: a pending blob never ingested (as from a handler that died)."""

from livebase import action, internal_query

from . import blobs


@action
async def orphan(ctx) -> dict:
    return await blobs.upload_file(ctx, "orphan", "tool_response", '{"stdout": "lost"}')


@internal_query
def file_exists(ctx, file: str) -> bool:
    return ctx.db.system.get(file) is not None


@internal_query
def blob_exists(ctx, blob: str) -> bool:
    return ctx.db.get(blob) is not None
'''
SWEEP_CRON = (
    "crons.interval(\n"
    '    "sweep pending blobs", sweep, {"older_than_minutes": PENDING_BLOB_MINUTES}, minutes=5\n'
    ")\n"
)


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    """A server with the test-only module and without the sweep cron (the test runs it)."""
    with launch_variant(tmp_path_factory.mktemp("files"), TESTONLY, SWEEP_CRON) as server:
        add_owner(server)
        yield Agentfeed(server)


def admin(feed: Agentfeed, kind: str, path: str, args: dict[str, Any]) -> Any:
    return call(feed.server.url, feed.server.admin_key, kind, path, args)


def raw(feed: Agentfeed, event_id: str, owner: bool) -> httpx.Response:
    headers = {"X-Agentfeed-Key": KEY}
    if owner:
        headers["Authorization"] = f"Bearer {sign_in(feed.server.url)}"
    return httpx.get(f"{feed.server.url}/raw/{event_id}", headers=headers, timeout=60)


def test_a_large_output_is_a_file_the_public_never_reads(feed: Agentfeed) -> None:
    stdout = "".join(f"build step {n} ok\n" for n in range(40_000)) + f"STRIPE_KEY={SECRET}\n"
    payload = hook(
        "PostToolUse",
        f"files-{uuid.uuid4()}",
        cwd=CWD,
        tool_name="Bash",
        tool_input={"command": "make build"},
        tool_response={"stdout": stdout, "stderr": "", "interrupted": False},
        tool_use_id="toolu_files",
    )
    assert feed.post(payload)["status"] == "stored"
    event = feed.event(payload["event_id"])
    assert event["summary"] == "Bash: make build"
    assert len(json.dumps(event)) < 16 * 1024  # notification-sized: summary and previews
    [ref] = event["blobs"]
    text = json.dumps(payload["tool_response"], separators=(",", ":")).encode()
    assert ref["field"] == "tool_response" and ref["bytes"] == len(text)
    assert ref["sha256"] == hashlib.sha256(text).hexdigest()
    assert ref["content_type"] == "application/json"
    assert admin(feed, "query", "testonly:file_exists", {"file": ref["file"]})
    owner = raw(feed, payload["event_id"], owner=True)
    assert owner.status_code == 200 and owner.json() == payload

    feed.mutation("projects:update", {"path": CWD, "public": True})
    public = Agentfeed(feed.server, owner=False)
    shown = public.event(payload["event_id"])
    assert shown["blobs"] == [{"field": "tool_response", "bytes": ref["bytes"]}]  # no file id
    answer = raw(feed, payload["event_id"], owner=False)
    assert answer.status_code == 200
    assert SECRET not in answer.text and "build step 39999" not in answer.text  # the preview
    assert SECRET not in json.dumps(shown)


def test_blobs_stored_in_chunks_before_files_still_read_back(feed: Agentfeed) -> None:
    """An event whose large field was stored the old way (a chunked blob) reads back whole."""
    event_id = f"old-{uuid.uuid4()}"
    big = {"stdout": "x" * 20_000}
    fields = {"tool_input": {"command": "ls"}, "tool_response": big, "tool_use_id": "toolu_old"}
    payload = hook("PostToolUse", "old", cwd=CWD, event_id=event_id, tool_name="Bash", **fields)
    text = json.dumps(big, separators=(",", ":"))
    blob = admin(feed, "mutation", "blobs:begin", {
        "event_id": event_id, "field": "tool_response", "size": float(len(text)),
        "chunks": 2.0, "first": [text[:9000], text[9000:]]})  # fmt: skip
    slim = {**payload, "tool_response": {"stdout": "x" * 100 + "…[+19900 chars]"}}
    result = admin(feed, "mutation", "events:ingest", {
        "endpoint": "event", "raw": json.dumps(slim), "raw_bytes": float(len(json.dumps(payload))),
        "blobs": [{"field": "tool_response", "blob": blob, "bytes": float(len(text))}],
        "generated_id": str(uuid.uuid4())})  # fmt: skip
    assert result["status"] == "stored"
    assert raw(feed, event_id, owner=True).json() == payload


def test_the_sweep_deletes_a_pending_blob_and_its_file(feed: Agentfeed) -> None:
    ref = admin(feed, "action", "testonly:orphan", {})
    assert admin(feed, "query", "testonly:file_exists", {"file": ref["file"]})
    assert admin(feed, "mutation", "blobs:sweep", {"older_than_minutes": 60.0}) == 0  # too new
    assert admin(feed, "mutation", "blobs:sweep", {"older_than_minutes": -1.0}) >= 1
    assert not admin(feed, "query", "testonly:file_exists", {"file": ref["file"]})
    assert not admin(feed, "query", "testonly:blob_exists", {"blob": ref["blob"]})

"""Full transcripts as files (``transcript_files.py``) against a real server: ``agentfeed
import-transcripts`` sends each session's main transcript whole, the session names the file
with its size and sha256, a second run stores nothing new, the owner downloads it back byte for
byte, and the public gets neither the file nor its metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.agentfeed_access.conftest import anonymous
from tests.agentfeed_app.conftest import KEY, Agentfeed, add_owner, launch, sign_in
from tests.agentfeed_transcripts.fixtures import APP_CWD, S1, S2, write_projects
from tests.agentfeed_transcripts.test_import import run_import

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def agentfeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agentfeed]:
    with launch(tmp_path_factory.mktemp("agentfeed")) as server:
        add_owner(server)
        yield Agentfeed(server)


def upload(feed: Agentfeed, session_id: str, body: bytes, key: str = KEY) -> httpx.Response:
    return httpx.post(
        f"{feed.server.url}/import/transcript/{session_id}",
        content=body,
        headers={"X-Agentfeed-Key": key, "Content-Type": "application/x-ndjson"},
        timeout=30,
    )


def imported(feed: Agentfeed, tmp_path: Path, projects: Path) -> str:
    """``agentfeed import-transcripts`` of ``projects`` into ``feed``: what it printed."""
    done = run_import(tmp_path, str(projects), "--url", feed.server.url, "--key", KEY)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_transcripts_are_files_for_the_owner_only(agentfeed: Agentfeed, tmp_path: Path) -> None:
    projects = write_projects(tmp_path / "claude" / "projects")
    url = agentfeed.server.url
    assert "transcripts: 2 stored, 0 unchanged" in imported(agentfeed, tmp_path, projects)
    data = (projects / "-home-u-app" / f"{S1}.jsonl").read_bytes()
    ref = agentfeed.session(S1)["transcript_file"]
    assert ref["bytes"] == len(data) and ref["sha256"] == hashlib.sha256(data).hexdigest()
    assert ref["content_type"] == "application/x-ndjson"
    assert agentfeed.session(S2)["transcript_file"]["bytes"] > 0

    assert "transcripts: 0 stored, 2 unchanged" in imported(agentfeed, tmp_path, projects)
    assert agentfeed.session(S1)["transcript_file"] == ref  # the same file, not a copy

    token = sign_in(url)
    got = httpx.get(f"{url}/transcript/{S1}", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 302
    download = httpx.get(got.headers["location"], timeout=30)
    assert download.status_code == 200 and download.content == data
    # the public: no metadata, no URL, no download
    assert httpx.get(f"{url}/transcript/{S1}").status_code == 404
    agentfeed.mutation("projects:update", {"path": APP_CWD, "public": True})
    shown = anonymous(url, "query", "sessions:session", {"session_id": S1}).value
    assert shown is not None and "transcript_file" not in shown
    assert anonymous(url, "query", "transcript_files:url", {"session_id": S1}).value is None


def test_a_changed_transcript_replaces_the_file(agentfeed: Agentfeed) -> None:
    """(S1 exists from the import above: one server per module.)"""
    before = agentfeed.session(S1)["transcript_file"]
    answer = upload(agentfeed, S1, b'{"type": "user"}\n')
    assert answer.status_code == 200 and answer.json()["status"] == "stored"
    after = agentfeed.session(S1)["transcript_file"]
    assert after["file"] != before["file"] and after["bytes"] == 17


def test_bad_uploads_are_refused(agentfeed: Agentfeed) -> None:
    assert upload(agentfeed, S1, b"x", key="wrong").status_code == 401
    empty = upload(agentfeed, S1, b"")
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    unknown = upload(agentfeed, "no-such-session", b"{}\n")
    assert unknown.status_code == 404 and "no session" in unknown.json()["error"]

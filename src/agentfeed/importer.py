"""``agentfeed import-transcripts``: read transcripts (``transcripts``), price their usage
(``pricing``) and send both to the server, in batches, with a progress bar on stderr.

Events go to ``POST /import/events`` (stored through the same ingestion as ``POST /event``,
idempotent on their deterministic ids, skipping what the live hook already stored), then each
session's usage to ``POST /import/usage`` (which sets, not adds, the totals), then each
session's main transcript file as it is to ``POST /import/transcript/<session id>`` (kept as a
file, for the owner only; the same bytes again are not stored twice). Running it again changes
nothing.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from agentfeed import pricing, transcripts

EVENT_BATCH = 200
USAGE_BATCH = 200
BATCH_BYTES = 4 * 1024 * 1024
MAX_EVENT_BYTES = 8 * 1024 * 1024
"""An event whose JSON is larger has its tool output cut to a preview (the route limit is
20 MiB per request)."""
PREVIEW_CHARS = 65_536
MAX_TRANSCRIPT_BYTES = 16 * 1024 * 1024
"""A larger transcript file is not sent (the route limit is 20 MiB per request)."""
TIMEOUT = 120.0


class ImportFailed(Exception):
    """The server refused a batch or could not be reached."""


@dataclass
class Report:
    files: int = 0
    sessions: int = 0
    events: int = 0
    bad_lines: int = 0
    duplicate_lines: int = 0
    responses: int = 0
    unknown_types: Counter[str] = field(default_factory=Counter)
    unpriced: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    transcript_files: Counter[str] = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)
    tokens: transcripts.Tokens = field(default_factory=transcripts.Tokens)
    cost_usd: float = 0.0


class Progress:
    """``label [#####.....] n/total`` on one stderr line, redrawn in place when it is a
    terminal; otherwise just the final line."""

    def __init__(self, label: str, total: int, stream: IO[str], width: int = 30) -> None:
        self.label, self.total, self.stream, self.width = label, total, stream, width
        self.done = 0
        self.tty = stream.isatty()

    def advance(self, n: int) -> None:
        self.done += n
        if self.tty:
            self._draw("\r")

    def finish(self) -> None:
        self._draw("\r" if self.tty else "")
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, prefix: str) -> None:
        filled = self.width * self.done // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"{prefix}{self.label} [{bar}] {self.done}/{self.total}")
        self.stream.flush()


Post = Callable[[str, dict[str, Any] | bytes], dict[str, Any]]
"""POST a JSON body (a dict) or a file's bytes (sent as ``application/x-ndjson``)."""


def poster(url: str, key: str) -> Post:
    """A function that POSTs JSON to ``url + path`` with the key, and returns the JSON answer;
    raises ``ImportFailed`` for anything but a 2xx."""
    base = url.rstrip("/")

    def post(path: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
        if isinstance(body, bytes):
            data, headers = body, {"Content-Type": "application/x-ndjson"}
        else:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json"}
        if key:
            headers["X-Agentfeed-Key"] = key
        request = urllib.request.Request(base + path, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise ImportFailed(f"{base}{path}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ImportFailed(f"{base}{path}: {exc}") from None

    return post


def _fit(event: dict[str, Any]) -> dict[str, Any]:
    """The event, with its tool output or input cut to a preview if its JSON is too large."""
    if len(json.dumps(event, ensure_ascii=False).encode("utf-8")) <= MAX_EVENT_BYTES:
        return event
    fitted = dict(event)
    for key in ("tool_response", "tool_input", "error", "prompt", "last_assistant_message"):
        if key in fitted:
            text = fitted[key] if isinstance(fitted[key], str) else json.dumps(fitted[key])
            if len(text) > PREVIEW_CHARS:
                fitted[key] = text[:PREVIEW_CHARS] + f"…[+{len(text) - PREVIEW_CHARS} chars]"
    return fitted


def run(
    roots: list[Path],
    prices: pricing.Pricing,
    post: Post | None,
    stderr: IO[str] = sys.stderr,
) -> Report:
    """Import the transcripts under ``roots``; ``post`` None: read and price only (dry run)."""
    scan = transcripts.scan(transcripts.find_files(roots))
    report = Report(
        files=scan.files,
        sessions=len(scan.sessions),
        events=scan.events,
        bad_lines=scan.bad_lines,
        duplicate_lines=scan.duplicate_lines,
        responses=scan.responses,
        unknown_types=scan.unknown_types,
    )
    docs = []
    for session in scan.sessions:
        costed = transcripts.usage_doc(session, prices)
        report.unpriced.update(costed.unpriced)
        report.tokens.add(session.tokens)
        report.cost_usd += costed.doc["cost_usd"] or 0.0
        docs.append(costed.doc)
    if post is None:
        return report
    events = [_fit(e) for s in scan.sessions for e in s.events]
    progress = Progress("events  ", len(events), stderr)
    for batch in transcripts.iter_batches(events, EVENT_BATCH, BATCH_BYTES):
        answer = post("/import/events", {"events": batch})
        for outcome in ("stored", "duplicate", "covered", "rejected"):
            report.outcomes[outcome] += int(answer.get(outcome, 0))
        report.reasons += [str(r) for r in answer.get("reasons", [])][: 10 - len(report.reasons)]
        progress.advance(len(batch))
    progress.finish()
    progress = Progress("sessions", len(docs), stderr)
    for batch in transcripts.iter_batches(docs, USAGE_BATCH, BATCH_BYTES):
        answer = post("/import/usage", {"sessions": batch})
        for outcome in ("updated", "created", "ended"):
            report.usage[outcome] += int(answer.get(outcome, 0))
        progress.advance(len(batch))
    progress.finish()
    _send_transcripts(scan.sessions, post, report, stderr)
    return report


def _send_transcripts(
    sessions: list[transcripts.Session], post: Post, report: Report, stderr: IO[str]
) -> None:
    """Each session's main transcript file, whole, to ``POST /import/transcript/<id>``."""
    files = [(s.session_id, Path(s.transcript_path)) for s in sessions if s.transcript_path]
    progress = Progress("files   ", len(files), stderr)
    for session_id, path in files:
        progress.advance(1)
        try:
            data = path.read_bytes()
        except OSError:
            report.transcript_files["unreadable"] += 1
            continue
        if len(data) > MAX_TRANSCRIPT_BYTES:
            report.transcript_files["too large"] += 1
            continue
        answer = post(f"/import/transcript/{quote(session_id, safe='')}", data)
        report.transcript_files[str(answer.get("status"))] += 1
    progress.finish()


def summary(report: Report, sent: bool) -> list[str]:
    """The lines ``import-transcripts`` prints on stdout."""
    t = report.tokens
    lines = [
        f"agentfeed: {report.files} transcript files, {report.sessions} sessions, "
        f"{report.events} events, {report.responses} API responses "
        f"({report.duplicate_lines} repeated usage lines not counted again)",
        f"  tokens:  input {t.input}, output {t.output}, cache write {t.cache_creation}, "
        f"cache read {t.cache_read}; estimated cost ${report.cost_usd:.4f}",
    ]
    if sent:
        o, u = report.outcomes, report.usage
        lines.append(
            f"  events:  {o['stored']} stored, {o['duplicate']} already imported, "
            f"{o['covered']} already captured by the hook, {o['rejected']} rejected"
        )
        lines.append(
            f"  sessions: {u['updated']} updated, {u['created']} created, {u['ended']} ended"
        )
        sent_files = report.transcript_files
        files = f"  transcripts: {sent_files['stored']} stored, {sent_files['unchanged']} unchanged"
        for problem in ("too large", "unreadable"):
            if sent_files[problem]:
                files += f", {sent_files[problem]} {problem} (not sent)"
        lines.append(files)
        lines += [f"  rejected: {reason}" for reason in report.reasons]
    if report.bad_lines:
        lines.append(f"  warning: {report.bad_lines} unreadable lines skipped")
    if report.unpriced:
        models = ", ".join(sorted(report.unpriced))
        lines.append(
            f"  warning: no price for {len(report.unpriced)} models ({models}): their sessions "
            "have no cost; add them to the pricing file"
        )
    if report.unknown_types:
        kinds = ", ".join(f"{k} ({n})" for k, n in sorted(report.unknown_types.items()))
        lines.append(f"  note: record types passed over: {kinds}")
    return lines

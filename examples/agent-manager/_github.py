"""GitHub's side of webhooks, as pure functions: the signature check and what processing needs
from a payload. Used by ``http.py``; no database access here."""

import hashlib
import hmac
import re
from typing import Any

SECRET_VARIABLE = "GITHUB_WEBHOOK_SECRET"
TASK_REF = re.compile(r"\btask[:/#-]([0-9a-z]{16,64})\b")
"""How a pull request names its task: ``task:<id>`` in its title or body, or a branch such as
``agent/task-<id>``."""
MAX_TITLE = 300


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256`` is ``sha256=`` and the hex HMAC-SHA256 of the raw body with the
    webhook's secret; compared in constant time."""
    if not secret or not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def _text(value: Any, limit: int = 10_000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def summarize(event: str, payload: Any) -> dict[str, Any]:
    """The few fields processing reads. Deliveries store this rather than the payload:
    GitHub's payloads run to megabytes, and their keys are not all valid field names."""
    if not isinstance(payload, dict):
        return {}
    repository = payload.get("repository")
    summary: dict[str, Any] = {}
    if isinstance(payload.get("action"), str):
        summary["action"] = payload["action"]
    if isinstance(repository, dict) and isinstance(repository.get("full_name"), str):
        summary["repo"] = repository["full_name"].lower()
    if event == "ping":
        summary["zen"] = _text(payload.get("zen"), 200)
    pull = payload.get("pull_request")
    if event == "pull_request" and isinstance(pull, dict):
        head = pull.get("head") if isinstance(pull.get("head"), dict) else {}
        title, body, branch = _text(pull.get("title")), _text(pull.get("body")), ""
        if isinstance(head, dict):
            branch = _text(head.get("ref"), 300)
        number = pull.get("number", payload.get("number"))
        summary |= {
            "number": float(number) if isinstance(number, int | float) else -1.0,
            "title": title[:MAX_TITLE],
            "url": _text(pull.get("html_url"), 500),
            "merged": pull.get("merged") is True,
            "branch": branch,
        }
        ref = TASK_REF.search(" ".join((branch, title, body)))
        if ref is not None:
            summary["taskRef"] = ref.group(1)
    return summary

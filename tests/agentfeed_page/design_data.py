"""A fortnight of believable Claude Code work for the page design test (``test_page_design.py``):
sessions in two projects over the last 14 days (the charts), today's and yesterday's with tool
calls a person reads (a Bash command with a ten-line result, an Edit, a Read), telemetry cost
for each, and one session still running a tool (the live "running" line)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.agentfeed_app.payloads import hook

DAY = 86_400_000
COMMAND = "pytest -q tests/test_upload.py --maxfail=1"
READ_PATH = "/home/u/portfolio-site/src/upload/retry.py"
EDIT_PATH = "/home/u/portfolio-site/src/upload/client.py"
PROMPT = "Make the uploader retry on 503 with exponential backoff, and add a test for it"
START = {"source": "startup", "model": "claude-opus-4-1"}
RESULT_LINES = [f"tests/test_upload.py::test_case_{n} PASSED" for n in range(1, 10)]
RESULT_LINES.append("==== 9 passed in 0.84s ====")
EDIT = {
    "file_path": EDIT_PATH,
    "old_string": "def upload(data):\n    return post(data)\n",
    "new_string": "def upload(data):\n    for delay in backoff(5):\n        return post(data)\n"
    "    raise UploadError('gave up')\n",
}


@dataclass
class Seed:
    """What was posted: the payloads, telemetry costs and the ids the page test looks for."""

    public: str
    private: str
    payloads: list[dict[str, Any]] = field(default_factory=list)
    costs: list[tuple[str, float, int]] = field(default_factory=list)  # session, usd, at ms
    ids: dict[str, str] = field(default_factory=dict)

    def session(self, project: str, start: int, steps: list[tuple[str, dict[str, Any]]]) -> str:
        session_id = str(uuid.uuid4())
        at = start
        for name, fields in [("SessionStart", START), *steps]:
            self.payloads.append(hook(name, session_id, cwd=project, ts=at, **fields))
            at += 7_000
        return session_id


def tool(name: str, tool_input: dict[str, Any], n: int) -> tuple[str, dict[str, Any]]:
    return (
        "PreToolUse",
        {"tool_name": name, "tool_input": tool_input, "tool_use_id": f"toolu_{n}"},
    )


def done(
    name: str, tool_input: dict[str, Any], response: Any, n: int
) -> tuple[str, dict[str, Any]]:
    return ("PostToolUse", {"tool_name": name, "tool_input": tool_input, "tool_response": response,
                            "tool_use_id": f"toolu_{n}"})  # fmt: skip


# what the earlier sessions were asked, and what each answered last (the public cards' titles)
EARLIER = {
    13: (
        "Split the upload client into transport and retry policy",
        "Split the upload client; 12 tests pass.",
    ),
    11: ("Move the settings to a typed config object", "Settings are a typed config object now."),
    9: (
        "Cache the thumbnails, the gallery is slow",
        "Thumbnails cached: the gallery loads in 0.6 s.",
    ),
    6: ("Fix the flaky login test", "The login test waits for the session cookie now."),
    4: ("Paginate the projects API", "The projects API pages with cursor tokens."),
    2: (
        "Replace the hand-written date parsing with zoneinfo",
        "Dates parse with zoneinfo; 3 bugs gone.",
    ),
}


def work(prompt: str, n: int, outcome: str) -> list[tuple[str, dict[str, Any]]]:
    bash = {"command": COMMAND, "description": "Run the upload tests"}
    stdout = {"stdout": "\n".join(RESULT_LINES), "stderr": "", "interrupted": False}
    read = {"file_path": READ_PATH}
    return [
        ("UserPromptSubmit", {"prompt": prompt}),
        tool("Read", read, n),
        done(
            "Read",
            read,
            {"type": "text", "file": {"filePath": READ_PATH, "content": "import time\n"}},
            n,
        ),
        tool("Edit", EDIT, n + 1),
        done("Edit", EDIT, {"filePath": EDIT_PATH}, n + 1),
        tool("Bash", bash, n + 2),
        done("Bash", bash, stdout, n + 2),
        ("Stop", {"last_assistant_message": outcome}),
    ]


def fortnight(now_ms: int) -> Seed:
    """Sessions on 8 of the last 14 days (UTC), two today (one still running a tool) and one
    yesterday, in a project that will be public and one that stays private."""
    tag = uuid.uuid4().hex[:4]
    seed = Seed(public=f"/home/u/portfolio-site-{tag}", private=f"/home/u/client-work-{tag}")
    midnight = now_ms - now_ms % DAY
    # today's two sessions between midnight and now (UTC), the running one the newer
    today = midnight + (now_ms - midnight) * 2 // 3
    earlier = [(13, seed.public, 1.2), (11, seed.private, 0.6), (9, seed.public, 2.4)]
    earlier += [(6, seed.public, 0.9), (4, seed.private, 1.7), (2, seed.public, 3.1)]
    for back, project, usd in earlier:
        start = midnight - back * DAY + 10 * 3_600_000
        prompt, outcome = EARLIER[back]
        sid = seed.session(project, start, work(prompt, back * 10, outcome) * (1 + back % 3))
        seed.costs.append((sid, usd, start + 60_000))
    yesterday = midnight - 5 * 3_600_000
    sid = seed.session(
        seed.public,
        yesterday,
        work(
            "Add a dark theme to the settings page",
            300,
            "Dark theme added, with a remembered toggle.",
        ),
    )
    seed.costs.append((sid, 1.35, yesterday + 60_000))
    seed.ids["yesterday"] = sid
    sid = seed.session(
        seed.public,
        midnight + (now_ms - midnight) // 3,
        work(PROMPT, 400, "The uploader now retries 503s with exponential backoff."),
    )
    seed.costs.append((sid, 0.42, midnight + (now_ms - midnight) // 3 + 5_000))
    seed.ids["today"] = sid
    running = seed.session(seed.private, today, [
        ("UserPromptSubmit", {"prompt": "Why is the nightly build slow?"}),
        tool("Bash", {"command": "make build-nightly", "description": "Build"}, 500),
    ])  # fmt: skip
    seed.costs.append((running, 0.07, today + 5_000))
    seed.ids["running"] = running
    return seed


def event_ids(seed: Seed, session_id: str) -> list[str]:
    return [p["event_id"] for p in seed.payloads if p["session_id"] == session_id]


def find(seed: Seed, session_id: str, name: str, tool_name: str | None = None) -> str:
    """The event id of the first ``name`` event (of ``tool_name``) of a session."""
    for p in seed.payloads:
        if p["session_id"] == session_id and p["hook_event_name"] == name:
            if tool_name is None or p.get("tool_name") == tool_name:
                return str(p["event_id"])
    raise AssertionError(f"no {name} {tool_name} in {session_id}")


__all__ = ["COMMAND", "EDIT_PATH", "PROMPT", "READ_PATH", "RESULT_LINES", "fortnight"]

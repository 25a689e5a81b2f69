"""Fixtures for agentfeed's access control and redaction: the app's ``redact`` module loaded the
way Livebase loads it, and helpers to call functions the way any client does: anonymously (no
``Authorization``) or signed in (``Authorization: Bearer <access token>``)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx
import pytest

from livebase.functions.loader import load_app, unload
from tests.agentfeed_app.conftest import APP


@pytest.fixture(scope="module")
def redact() -> Iterator[ModuleType]:
    app = load_app(APP)
    try:
        yield importlib.import_module(f"{app.package}.redact")
    finally:
        unload(app)


@dataclass
class Answer:
    """One ``POST /api/<kind>`` answer: its status, value or error, and the whole JSON text."""

    text: str
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.body.get("status") == "success"

    @property
    def value(self) -> Any:
        assert self.ok, self.body
        return self.body["value"]


def anonymous(
    url: str, kind: str, path: str, args: dict[str, Any], *, token: str | None = None
) -> Answer:
    """Call a function as any client of the server may: no admin key; signed in with
    ``token`` when one is given."""
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    response = httpx.post(
        f"{url}/api/{kind}",
        json={"path": path, "args": args, "format": "json"},
        headers=headers,
        timeout=30,
    )
    return Answer(response.text, json.loads(response.text))

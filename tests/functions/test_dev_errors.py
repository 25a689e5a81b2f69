"""A bug under ``livebase dev`` (``Settings.dev``) reaches the caller with its type, message and
the app's own frames, in queries, mutations and actions (in a worker process and in a thread);
under ``serve`` only ``Server Error`` and a request id. And ``ctx.run_query`` /
``run_mutation`` / ``run_action`` take the decorated function as well as its path."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from livebase.errors import InvalidValueError

from .conftest import Harness

ERRS = """
    from livebase import action, mutation, query

    def check(channel):
        if channel != "ok":
            raise ValueError(f"no such channel {channel}")  # RAISE

    @query
    def lookup(ctx, channel: str) -> str:
        check(channel)  # CALL-Q
        return channel

    @mutation
    def store(ctx, channel: str) -> str:
        check(channel)  # CALL-M
        return channel

    @action
    async def fetch(ctx, channel: str) -> str:
        check(channel)  # CALL-A
        return channel

    @action
    def fetch_def(ctx, channel: str) -> str:
        check(channel)
        return channel

    @action
    async def via_query(ctx, channel: str) -> str:
        return await ctx.run_query(lookup, {"channel": channel})  # CALL-VIA
"""

REFS = """
    from livebase import action, internal_action, internal_mutation, query

    @query
    def double(ctx, x: float) -> float:
        return x * 2

    @internal_mutation
    def note(ctx, text: str) -> str:
        return text.upper()

    @internal_action
    async def inner(ctx, x: float) -> float:
        return x + 1

    def plain(ctx):
        return None

    @action
    async def by_object(ctx) -> list:
        return [
            await ctx.run_query(double, {"x": 2}),
            await ctx.run_mutation(note, {"text": "hi"}),
            await ctx.run_action(inner, {"x": 1}),
            await ctx.run_query("refs:double", {"x": 5}),
        ]

    @action
    def by_object_def(ctx) -> list:
        return [ctx.run_query(double, {"x": 3}), ctx.run_mutation(note, {"text": "yo"})]

    @action
    async def wrong(ctx, what: str) -> None:
        target = {"int": 5, "plain": plain, "kind": note, "none": None}[what]
        await ctx.run_query(target, {})
"""


def _line(source: str, marker: str) -> int:
    """The line number of ``marker`` in the app file ``source`` (as written: dedented)."""
    lines = source.strip("\n").splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text)


def _dev(h: Harness, *, isolation: str = "process") -> Harness:
    h.engine.settings = replace(h.engine.settings, dev=True, action_isolation=isolation)
    return h


def _assert_dev_message(message: str, request_id: str, *frames: str) -> None:
    head, _, detail = message.partition("\n")
    assert head == f"[Request ID: {request_id}] Server Error", message
    assert detail.startswith("Uncaught ValueError: no such channel nope\n"), message
    at_lines = detail.splitlines()[1:]
    assert at_lines == list(frames), message  # innermost first; nothing but the app's frames
    assert "livebase" not in detail and "runner" not in detail, message


@pytest.mark.parametrize(
    "kind,path,call", [("query", "lookup", "CALL-Q"), ("mutation", "store", "CALL-M")]
)
def test_dev_shows_type_message_and_app_frames(
    harness: Any, kind: str, path: str, call: str
) -> None:
    h = _dev(harness({"errs.py": ERRS}))
    result = getattr(h, kind)(f"errs:{path}", {"channel": "nope"})
    _assert_dev_message(
        result.error_message(),
        result.request_id,
        f"    at check (errs.py:{_line(ERRS, 'RAISE')})",
        f"    at {path} (errs.py:{_line(ERRS, call)})",
    )


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_dev_shows_action_frames_in_either_isolation(harness: Any, isolation: str) -> None:
    h = _dev(harness({"errs.py": ERRS}), isolation=isolation)
    result = h.action("errs:fetch", {"channel": "nope"})
    _assert_dev_message(
        result.error_message(),
        result.request_id,
        f"    at check (errs.py:{_line(ERRS, 'RAISE')})",
        f"    at fetch (errs.py:{_line(ERRS, 'CALL-A')})",
    )
    nested = h.action("errs:via_query", {"channel": "nope"})
    message = nested.error_message()
    assert "Uncaught ValueError: no such channel nope" in message, message
    for frame in (
        f"at check (errs.py:{_line(ERRS, 'RAISE')})",
        f"at lookup (errs.py:{_line(ERRS, 'CALL-Q')})",
        f"at via_query (errs.py:{_line(ERRS, 'CALL-VIA')})",
    ):
        assert frame in message, message
    assert "livebase" not in message.partition("\n")[2], message


def test_serve_shows_only_server_error(harness: Any, caplog: pytest.LogCaptureFixture) -> None:
    h = harness({"errs.py": ERRS})
    assert h.engine.settings.dev is False
    for result in (
        h.query("errs:lookup", {"channel": "nope"}),
        h.mutation("errs:store", {"channel": "nope"}),
        h.action("errs:fetch", {"channel": "nope"}),
        h.action("errs:fetch_def", {"channel": "nope"}),
    ):
        assert result.error_message() == f"[Request ID: {result.request_id}] Server Error"
    assert "no such channel nope" in caplog.text


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_actions_call_functions_by_the_decorated_function(harness: Any, isolation: str) -> None:
    h = harness({"refs.py": REFS})
    h.engine.settings = replace(h.engine.settings, action_isolation=isolation)
    assert h.value(h.action("refs:by_object")) == [4.0, "HI", 2.0, 10.0]
    assert h.value(h.action("refs:by_object_def")) == [6.0, "YO"]


@pytest.mark.parametrize("isolation", ["process", "thread"])
@pytest.mark.parametrize(
    "what,expected",
    [
        ("int", "ctx.run_query: give the function's path ('module:function') or the decorated "
                "function itself, got int 5"),
        ("none", "got NoneType None"),
        ("plain", "got the plain function plain (decorate it with @query"),
        ("kind", "ctx.run_query: refs:note is a mutation, not a query; call it with "
                 "ctx.run_mutation"),
    ],
)  # fmt: skip
def test_a_wrong_reference_says_what_was_passed(
    harness: Any, isolation: str, what: str, expected: str
) -> None:
    h = harness({"refs.py": REFS})
    h.engine.settings = replace(h.engine.settings, action_isolation=isolation)
    result = h.action("refs:wrong", {"what": what})
    assert isinstance(result.error, InvalidValueError), result.error
    assert expected in result.error.message
    assert re.match(r"\[Request ID: \w+\] InvalidValue: ctx\.run_query: ", result.error_message())

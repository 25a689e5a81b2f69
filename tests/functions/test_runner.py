"""The call runner: visibility, kinds, errors, and the capture of print/logging as log lines."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from typing import Any

import pytest

from livebase import AppError, Int64
from livebase.config import Limits
from livebase.errors import FunctionNotFoundError
from livebase.httpapi.api import udf_response

from .conftest import CHAT_FILES, Harness, run

ERRORS = {
    "errors.py": """
        from livebase import AppError, Int64, action, mutation, query


        @query
        def app_error(ctx, kind: str):
            data = {"dict": {"code": "Nope", "n": 2**40, "f": 1.5}, "str": "plain message",
                    "int64": Int64(2**62)}[kind]
            raise AppError(data)


        @mutation
        def app_error_after_write(ctx):
            ctx.db.insert("things", {"n": 1.0})
            raise AppError({"code": "Rollback"})


        @query
        def count(ctx) -> int:
            return len(ctx.db.query("things").collect())


        @query
        def bug(ctx):
            raise KeyError("secret-detail-42")


        @mutation
        def bug_mutation(ctx):
            raise RuntimeError("secret-detail-43")


        @action
        async def bug_action(ctx):
            raise ZeroDivisionError("secret-detail-44")
    """,
}

LOGS = {
    "logs.py": """
        import asyncio
        import logging
        import time

        from livebase import action, mutation, query

        log = logging.getLogger(__name__)


        def _emit(tag):
            print(f"{tag} printed")
            log.info("%s info", tag)
            log.warning("%s warned", tag)
            log.error("%s failed", tag)


        @query
        def q(ctx, tag: str = "q"):
            _emit(tag)
            return "ok"


        @mutation
        def m(ctx, tag: str = "m"):
            _emit(tag)
            return "ok"


        @query
        def q_fails(ctx):
            _emit("qf")
            raise ValueError("after logging")


        @mutation
        def m_fails(ctx):
            _emit("mf")
            raise ValueError("after logging")


        @action
        def a_def(ctx, tag: str = "ad"):
            _emit(tag)
            time.sleep(0.02)
            print(f"{tag} done")
            return "ok"


        @action
        async def a_async(ctx, tag: str = "aa"):
            _emit(tag)
            await asyncio.sleep(0.02)
            print(f"{tag} done")
            return "ok"


        @action
        async def a_async_fails(ctx):
            _emit("af")
            raise ValueError("after logging")


        @action
        def a_def_fails(ctx):
            _emit("df")
            raise ValueError("after logging")


        @action
        async def interleaved(ctx, tag: str, n: int):
            for i in range(n):
                print(f"{tag} {i}")
                await asyncio.sleep(0)
            return "ok"


        @action
        def interleaved_def(ctx, tag: str, n: int):
            for i in range(n):
                print(f"{tag} {i}")
                time.sleep(0.001)
            return "ok"


        @query
        def many(ctx, n: int):
            for i in range(n):
                print(f"line {i}")
            return n


        @query
        def partial(ctx):
            print("no newline at end", end="")
            return 1
    """,
}


def expected_lines(tag: str) -> list[str]:
    return [
        f"[LOG] {tag} printed",
        f"[INFO] {tag} info",
        f"[WARN] {tag} warned",
        f"[ERROR] {tag} failed",
    ]


# -- visibility and kinds ------------------------------------------------------------------------


def test_internal_functions_need_admin(harness: Any) -> None:
    h = harness(CHAT_FILES)
    h.value(h.mutation("messages:send", {"channel": "c", "body": "x"}))
    for call in (
        lambda admin: h.query("admin/users:total", admin=admin),
        lambda admin: h.mutation("admin/users:wipe", {"channel": "c"}, admin=admin),
    ):
        hidden = call(False)
        assert isinstance(hidden.error, FunctionNotFoundError)
        assert hidden.error.code == "FunctionNotFound"
        assert hidden.rejected
    assert h.value(h.query("admin/users:total", admin=True)) == 1
    assert h.value(h.mutation("admin/users:wipe", {"channel": "c"}, admin=True)) == 1
    assert h.value(h.query("admin/users:total", admin=True)) == 0


def test_public_functions_work_with_and_without_admin(harness: Any) -> None:
    h = harness(CHAT_FILES)
    assert h.value(h.query("messages:count", {"channel": "c"})) == 0
    assert h.value(h.query("messages:count", {"channel": "c"}, admin=True)) == 0


def test_calling_with_the_wrong_kind_is_function_not_found(harness: Any) -> None:
    h = harness(CHAT_FILES)
    as_query = h.query("messages:send", {"channel": "c", "body": "x"})
    assert isinstance(as_query.error, FunctionNotFoundError)
    assert as_query.rejected
    as_mutation = h.mutation("messages:list", {"channel": "c"})
    assert isinstance(as_mutation.error, FunctionNotFoundError)
    as_action = h.action("messages:send", {"channel": "c", "body": "x"})
    assert isinstance(as_action.error, FunctionNotFoundError)
    # Nothing was written by the mis-routed mutation.
    assert h.value(h.query("messages:count", {"channel": "c"})) == 0


def test_unknown_function_and_module(harness: Any) -> None:
    h = harness(CHAT_FILES)
    for path in ("messages:nope", "nomodule:list", "messages", ""):
        result = h.query(path, {})
        assert isinstance(result.error, FunctionNotFoundError), (path, result)


def test_js_style_paths_resolve(harness: Any) -> None:
    h = harness(CHAT_FILES)
    assert h.value(h.query("messages.js:count", {"channel": "c"})) == 0


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("dict", {"code": "Nope", "n": 2**40, "f": 1.5}),
        ("str", "plain message"),
        ("int64", Int64(2**62)),
    ],
)
def test_app_error_data_is_preserved(harness: Any, kind: str, data: Any) -> None:
    h = harness(ERRORS)
    result = h.query("errors:app_error", {"kind": kind})
    assert isinstance(result.error, AppError)
    assert result.error.data == data
    assert type(result.error.data) is type(data)
    assert not result.rejected
    body = json.loads(udf_response(result, "convex_encoded_json").body)
    assert body["status"] == "error"
    if kind == "int64":
        assert body["errorData"] == {"$integer": "AAAAAAAAAEA="}
    elif kind == "dict":
        assert body["errorData"]["code"] == "Nope"
        assert body["errorData"]["f"] == 1.5
        assert body["errorData"]["n"] == 2**40  # a Python int is a number (JS can use it)
    else:
        assert body["errorData"] == "plain message"
        assert body["errorMessage"] == "plain message"


def test_app_error_in_mutation_rolls_back(harness: Any) -> None:
    h = harness(ERRORS)
    result = h.mutation("errors:app_error_after_write")
    assert isinstance(result.error, AppError)
    assert result.error.data == {"code": "Rollback"}
    assert h.value(h.query("errors:count")) == 0


@pytest.mark.parametrize(
    ("kind", "path", "exc_type", "secret"),
    [
        ("query", "errors:bug", KeyError, "secret-detail-42"),
        ("mutation", "errors:bug_mutation", RuntimeError, "secret-detail-43"),
        ("action", "errors:bug_action", ZeroDivisionError, "secret-detail-44"),
    ],
)
def test_other_exceptions_become_generic_server_errors(
    harness: Any,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    path: str,
    exc_type: type,
    secret: str,
) -> None:
    h = harness(ERRORS)
    result = getattr(h, kind)(path)
    assert isinstance(result.error, exc_type)
    assert secret in str(result.error)
    assert result.request_id
    response = udf_response(result, "convex_encoded_json")
    assert response.status == 200
    body = json.loads(response.body)
    assert body["status"] == "error"
    assert body["errorMessage"] == f"[Request ID: {result.request_id}] Server Error"
    assert "errorData" not in body
    assert secret not in response.body.decode()
    assert exc_type.__name__ not in response.body.decode()
    # The traceback goes to the server log instead.
    assert any(secret in (r.exc_text or "") or r.exc_info for r in caplog.records), caplog.text


# -- logs ----------------------------------------------------------------------------------------


def test_print_and_logging_become_log_lines(harness: Any) -> None:
    h = harness(LOGS)
    q = h.query("logs:q")
    assert h.value(q) == "ok"
    assert q.log_lines == expected_lines("q")
    m = h.mutation("logs:m")
    assert h.value(m) == "ok"
    assert m.log_lines == expected_lines("m")


def test_log_lines_of_failing_calls(harness: Any) -> None:
    h = harness(LOGS)
    for kind, path, tag in (
        ("query", "logs:q_fails", "qf"),
        ("mutation", "logs:m_fails", "mf"),
        ("action", "logs:a_async_fails", "af"),
        ("action", "logs:a_def_fails", "df"),
    ):
        result = getattr(h, kind)(path)
        assert isinstance(result.error, ValueError), (path, result)
        assert result.log_lines == expected_lines(tag), path
        body = json.loads(udf_response(result, "convex_encoded_json").body)
        assert body["logLines"] == expected_lines(tag)


def test_log_lines_in_def_and_async_actions(harness: Any) -> None:
    h = harness(LOGS)
    for path, tag in (("logs:a_def", "ad"), ("logs:a_async", "aa")):
        result = h.action(path)
        assert h.value(result) == "ok"
        assert result.log_lines == [*expected_lines(tag), f"[LOG] {tag} done"], path


def test_partial_last_line_is_kept(harness: Any) -> None:
    h = harness(LOGS)
    assert h.query("logs:partial").log_lines == ["[LOG] no newline at end"]


def test_log_lines_do_not_leak_between_concurrent_calls(harness: Any) -> None:
    h = harness(LOGS)

    async def main() -> list[Any]:
        calls = [
            h.runner.run_action("logs:interleaved", {"tag": "A", "n": 20}),
            h.runner.run_action("logs:interleaved", {"tag": "B", "n": 20}),
            h.runner.run_action("logs:interleaved_def", {"tag": "C", "n": 20}),
            h.runner.run_action("logs:interleaved_def", {"tag": "D", "n": 20}),
            h.runner.run_action("logs:a_async", {"tag": "E"}),
            h.runner.run_mutation("logs:m", {"tag": "F"}),
        ]

        async def queries() -> list[Any]:
            out = []
            for _ in range(10):
                out.append(h.runner.run_query("logs:q", {"tag": "G"}))
                await asyncio.sleep(0.001)
            return out

        results = await asyncio.gather(*calls, queries())
        return [*results[:-1], *results[-1]]

    results = run(main())
    for tag, result in zip("ABCD", results[:4], strict=True):
        assert h.value(result) == "ok"
        assert result.log_lines == [f"[LOG] {tag} {i}" for i in range(20)], tag
    assert results[4].log_lines == [*expected_lines("E"), "[LOG] E done"]
    assert results[5].log_lines == expected_lines("F")
    for result in results[6:]:
        assert result.log_lines == expected_lines("G")


def test_print_is_captured_after_sys_stdout_is_replaced(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything may rebind ``sys.stdout`` after the first call installed the capture (a test
    runner, a notebook, a library): print() inside later calls must still become log lines."""
    h = harness(LOGS)
    assert h.query("logs:q").log_lines == expected_lines("q")
    replacement = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replacement)
    result = h.runner.run_query("logs:q", {"tag": "again"})
    assert result.log_lines == expected_lines("again")
    assert "again printed" not in replacement.getvalue()


def test_print_outside_calls_is_not_captured(
    harness: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    h = harness(LOGS)
    h.query("logs:q")
    print("outside any call")
    assert "outside any call" in capsys.readouterr().out


def test_log_line_limit(harness: Any) -> None:
    h = harness(LOGS, limits=Limits(max_log_lines=5))
    result = h.query("logs:many", {"n": 50})
    assert h.value(result) == 50
    assert result.log_lines[:5] == [f"[LOG] line {i}" for i in range(5)]
    assert len(result.log_lines) <= 6, result.log_lines
    assert "[LOG] line 5" not in result.log_lines
    if len(result.log_lines) == 6:
        assert "limit" in result.log_lines[5]
    under = h.query("logs:many", {"n": 4})
    assert under.log_lines == [f"[LOG] line {i}" for i in range(4)]
    h2: Harness = harness(LOGS, limits=Limits(max_log_lines=3))
    assert len(h2.action("logs:interleaved", {"tag": "X", "n": 40}).log_lines) <= 4

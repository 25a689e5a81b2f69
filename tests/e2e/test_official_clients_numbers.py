"""The number contract (docs/functions.md, "Numbers") as the official clients see it.

A real ``livebase serve`` (SQLite and PostgreSQL) of the app below, driven by the official
clients unmodified: npm ``convex`` 1.48.0 (``ConvexClient`` over the WebSocket and
``ConvexHttpClient``; ``tests/clients/js/numbers_scenario.mjs``) and PyPI ``convex`` 0.8.1
(``ConvexClient``, Rust inside, and ``ConvexHttpClient``; ``tests/clients/py/numbers_scenario.py``,
in a subprocess with a timeout), plus raw ``/api/query`` in both formats. What it proves:

* A function's Python ``int`` (``len(rows)``, a dict of counts, ``AppError({"code": 7})``'s data)
  is a float64: a JS ``number`` (``JSON.stringify``, ``n + 1`` and ``new Date(n)`` work), a
  ``float`` in the Python client, never a bigint / ``ConvexInt64``; live query updates too.
* The hint ``int`` takes a JS ``20`` and the Python client's ``20`` (sent as ``20.0``), and the
  function gets the ``int`` 20; ``2.5`` is refused with ``expected integer``.
* ``v.int64()`` (and the hint ``Int64``) takes a bigint / ``ConvexInt64`` (and a plain ``5``) and
  gives the function an ``Int64``, which goes back as a bigint / ``ConvexInt64``; so do
  ``Int64(2**60)`` and a plain ``2**60`` returned through ``returns=v.int64()``.
* A ``v.number()`` field written as ``2`` (by the Python client, or by the function) is the
  ``int`` 2 in the function when read back, the number 2 in JS.
* A plain ``2**60`` returned without a declaration fails, naming the fix (``v.int64()`` /
  ``livebase.Int64``). That is an ``InvalidValue`` error, which docs/functions.md ("Errors") says
  reaches the caller with its code and message under ``livebase serve`` too (unlike a bug, which
  is only ``Server Error`` there): the clients get the message, not a ConvexError.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import TEST_ADMIN_KEY
from tests.support.apps import write_app
from tests.support.server import REPO_ROOT, LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(240)]

PY_SCENARIO = REPO_ROOT / "tests" / "clients" / "py" / "numbers_scenario.py"
# Generous: it only tells a hung client from a working one, on a machine that may be busy.
SCENARIO_TIMEOUT = 90.0
BIG = 2**60
FIX = (
    "Declare the field v.int64() in the validator or schema, or wrap the number as "
    "livebase.Int64(n)"
)
CLIENTS = ["ws", "http"]

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema(
            {
                "items": define_table(
                    {"tag": v.string(), "kind": v.string(), "amount": v.number()}
                ).index("by_tag", ["tag"]),
            }
        )
    """,
    "numbers.py": """
        from livebase import AppError, Int64, mutation, query, v


        def rows(ctx, tag):
            return ctx.db.query("items").with_index("by_tag", lambda q: q.eq("tag", tag)).collect()


        @query
        def count(ctx, tag: str) -> int:
            return len(rows(ctx, tag))


        @query
        def counts(ctx, tag: str) -> dict:
            out = {}
            for row in rows(ctx, tag):
                out[row["kind"]] = out.get(row["kind"], 0) + 1
            return out


        @mutation(args={"tag": v.string(), "kind": v.string(), "amount": v.number()})
        def store(ctx, tag, kind, amount):
            ctx.db.insert("items", {"tag": tag, "kind": kind, "amount": amount})
            return {"amount": amount, "is_int": type(amount) is int}


        @mutation
        def seed(ctx, tag: str) -> None:
            ctx.db.insert("items", {"tag": tag, "kind": "seeded", "amount": 2})


        @query
        def amounts(ctx, tag: str) -> list:
            return [
                {"kind": r["kind"], "amount": r["amount"], "is_int": type(r["amount"]) is int}
                for r in rows(ctx, tag)
            ]


        @mutation
        def take_int(ctx, n: int) -> dict:
            return {"n": n, "type": type(n).__name__, "next": n + 1}


        @query(args={"n": v.int64()})
        def int64_arg(ctx, n):
            return {"n": n, "type": type(n).__name__}


        @query
        def int64_hint(ctx, n: Int64) -> dict:
            return {"n": n, "type": type(n).__name__}


        @mutation
        def refuse(ctx) -> None:
            raise AppError({"code": 7, "ratio": 0.5})


        @query
        def big(ctx):
            return Int64(2**60)


        @query(returns=v.int64())
        def declared(ctx):
            return 2**60


        @query
        def too_big(ctx):
            return 2**60
    """,
}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, backend_db: Callable[[], str | None]
) -> Iterator[LivebaseServer]:
    base = tmp_path_factory.mktemp("numbers")
    app = write_app(base / "app", APP)
    with LivebaseServer.launch(
        base / "s", app=app, admin_key=TEST_ADMIN_KEY, db=backend_db()
    ) as running:
        yield running


@pytest.fixture(scope="module")
def tag() -> str:
    return f"n-{uuid.uuid4().hex[:10]}"


def _py_steps(stdout: str) -> dict[str, dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith("@@ "):
            record = json.loads(line[3:])
            steps[record["step"]] = record
    return steps


@pytest.fixture(scope="module")
def py(server: LivebaseServer, tag: str) -> dict[str, dict[str, Any]]:
    """The Python scenario's steps by name (it runs before the JS one, which reads its rows)."""
    command = [sys.executable, str(PY_SCENARIO), server.url, tag]
    env = {**os.environ, "RUST_LOG": "warn"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT, check=False,
            env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(
            f"the official Python client hung after steps {list(_py_steps(out))}\n{out}\n"
            f"server log tail:\n{server.log_text()[-3000:]}"
        )
    steps = _py_steps(done.stdout)
    assert "done" in steps and done.returncode == 0, f"{done.stdout}\n{done.stderr[-4000:]}"
    return steps


@pytest.fixture(scope="module")
def js(
    server: LivebaseServer, tag: str, js_client_dir: Path, py: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    try:
        done = subprocess.run(
            [node, "numbers_scenario.mjs", server.url, tag],
            cwd=js_client_dir, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"numbers_scenario.mjs did not finish: {exc.stdout!r}\n{exc.stderr!r}")
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"numbers_scenario.mjs printed no JSON:\n{done.stdout}\n{done.stderr}")
    assert result["failures"] == [] and done.returncode == 0, f"{result}\n{done.stderr}"
    return result


def _value(steps: dict[str, Any], name: str) -> Any:
    step = steps[name]
    assert "error" not in step, f"step {name!r} failed: {step}"
    return step["value"]


def _error(steps: dict[str, Any], name: str) -> dict[str, Any]:
    step = steps[name]
    assert "error" in step, f"step {name!r} should have failed: {step}"
    error: dict[str, Any] = step["error"] if isinstance(step["error"], dict) else step
    return error


def _floats(value: Any) -> bool:
    """Every number in ``value`` is a JSON float (the Python client's ``float``)."""
    if isinstance(value, list):
        return all(_floats(v) for v in value)
    if isinstance(value, dict):
        return all(_floats(v) for v in value.values())
    return not isinstance(value, int) or isinstance(value, bool)


def _int64(n: int) -> dict[str, str]:
    return {"int64": str(n)}


def _bigint(n: int) -> dict[str, str]:
    return {"bigint": str(n)}


# -- the official JS clients ------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_js_len_and_counts_are_numbers(js: dict[str, Any], client: str) -> None:
    steps = js[client]
    count = steps["count"]
    assert count["value"] == 3 and count["type"] == "number", count
    # What JS can do with a number (each of these throws TypeError on a bigint).
    assert count["json"] == {"value": '{"n":3}'}, count
    assert count["plusOne"] == {"value": 4}, count
    assert count["date"] == {"value": 3}, count
    counts = steps["counts"]
    assert counts["value"] == {"a": 2, "b": 1}, counts
    assert counts["types"] == {"a": "number", "b": "number"}, counts
    assert counts["json"] == {"value": '{"a":2,"b":1}'}, counts
    assert counts["total"] == {"value": 3}, counts


@pytest.mark.parametrize("client", CLIENTS)
def test_js_number_field_reads_back_as_written(js: dict[str, Any], client: str) -> None:
    steps = js[client]
    # The function got (and stored) the int 2 for the JS 2, the float 2.5 for 2.5.
    assert [_value(steps, f"store{i}") for i in range(3)] == [
        {"amount": 2, "is_int": True},
        {"amount": 2.5, "is_int": False},
        {"amount": 3, "is_int": True},
    ]
    assert _value(steps, "amounts") == [
        {"kind": "a", "amount": 2, "is_int": True},
        {"kind": "a", "amount": 2.5, "is_int": False},
        {"kind": "b", "amount": 3, "is_int": True},
    ]
    assert steps["amounts"]["types"] == ["number"] * 3


@pytest.mark.parametrize("client", CLIENTS)
def test_js_reads_what_the_python_client_and_the_server_wrote(
    js: dict[str, Any], client: str
) -> None:
    steps = js[client]
    # amount 2 from the Python client (sent as 2.0), 2 written by the function, 1.5.
    assert _value(steps, "pythonAmounts") == [
        {"kind": "py", "amount": 2, "is_int": True},
        {"kind": "seeded", "amount": 2, "is_int": True},
        {"kind": "more", "amount": 1.5, "is_int": False},
    ]
    assert steps["pythonAmounts"]["types"] == ["number"] * 3
    assert steps["pythonAmounts"]["json"] == {"value": "[2,2,1.5]"}


@pytest.mark.parametrize("client", CLIENTS)
def test_js_int_argument(js: dict[str, Any], client: str) -> None:
    steps = js[client]
    assert _value(steps, "takeInt") == {"n": 20, "type": "int", "next": 21}
    refused = _error(steps, "takeFraction")
    assert refused["isConvexError"] is False, refused
    assert "ArgumentValidationError" in refused["message"], refused
    assert "n: expected integer, got float64 2.5" in refused["message"], refused


@pytest.mark.parametrize("client", CLIENTS)
def test_js_int64_arguments_and_results_are_bigints(js: dict[str, Any], client: str) -> None:
    steps = js[client]
    for name in ("int64Arg", "int64ArgFromNumber", "int64Hint"):
        assert _value(steps, name) == {"n": _bigint(5), "type": "Int64"}, name
        assert steps[name]["equal"] is True, name
    for name in ("big", "declared"):
        assert _value(steps, name) == _bigint(BIG), name
        assert steps[name]["type"] == "bigint" and steps[name]["equal"] is True, name


@pytest.mark.parametrize("client", CLIENTS)
def test_js_app_error_data_holds_numbers(js: dict[str, Any], client: str) -> None:
    error = _error(js[client], "refuse")
    assert error["isConvexError"] is True, error
    assert error["data"] == {"code": 7, "ratio": 0.5}, error
    assert error["dataCodeType"] == "number", error


@pytest.mark.parametrize("client", CLIENTS)
def test_js_undeclared_big_int_names_the_fix(js: dict[str, Any], client: str) -> None:
    error = _error(js[client], "tooBig")
    assert error["isConvexError"] is False, error
    assert "InvalidValue" in error["message"], error
    assert f"integer {BIG} at top level is beyond 2**53" in error["message"], error
    assert FIX in error["message"], error


def test_js_live_query_pushes_numbers(js: dict[str, Any]) -> None:
    sub = js["subscription"]
    assert sub["errors"] == []
    assert sub["values"][0] == 3 and sub["values"][-1] == 4, sub
    assert set(sub["types"]) == {"number"}, sub


# -- the official Python clients --------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_python_len_and_counts_are_floats(py: dict[str, Any], client: str) -> None:
    count = _value(py, f"{client}.count")
    assert type(count) is float and count == 2.0  # not a ConvexInt64 ({"int64": ...})
    counts = _value(py, f"{client}.counts")
    assert counts == {"py": 1.0, "seeded": 1.0} and _floats(counts)


@pytest.mark.parametrize("client", CLIENTS)
def test_python_int_for_a_number_field_is_an_int_in_the_function(
    py: dict[str, Any], client: str
) -> None:
    stored = _value(py, f"{client}.store")
    assert stored == {"amount": 2.0, "is_int": True} and _floats(stored)
    # Read back, the stored 2 (from the client, and the 2 the function wrote) is an int.
    amounts = _value(py, f"{client}.amounts")
    assert amounts == [
        {"kind": "py", "amount": 2.0, "is_int": True},
        {"kind": "seeded", "amount": 2.0, "is_int": True},
    ]
    assert _floats(amounts)


@pytest.mark.parametrize("client", CLIENTS)
def test_python_int_argument(py: dict[str, Any], client: str) -> None:
    got = _value(py, f"{client}.take_int")
    assert got == {"n": 20.0, "type": "int", "next": 21.0} and _floats(got)
    refused = _error(py, f"{client}.take_fraction")
    assert refused["isConvexError"] is False, refused
    assert "ArgumentValidationError" in refused["message"], refused
    assert "n: expected integer, got float64 2.5" in refused["message"], refused


@pytest.mark.parametrize("client", CLIENTS)
def test_python_int64_arguments_and_results_are_convex_int64(
    py: dict[str, Any], client: str
) -> None:
    for name in ("int64_arg", "int64_arg_from_int", "int64_hint"):
        assert _value(py, f"{client}.{name}") == {"n": _int64(5), "type": "Int64"}, name
    assert _value(py, f"{client}.big") == _int64(BIG)
    assert _value(py, f"{client}.declared") == _int64(BIG)


@pytest.mark.parametrize("client", CLIENTS)
def test_python_app_error_data_holds_numbers(py: dict[str, Any], client: str) -> None:
    error = _error(py, f"{client}.refuse")
    assert error["isConvexError"] is True, error
    assert error["data"] == {"code": 7.0, "ratio": 0.5} and _floats(error["data"]), error


@pytest.mark.parametrize("client", CLIENTS)
def test_python_undeclared_big_int_names_the_fix(py: dict[str, Any], client: str) -> None:
    error = _error(py, f"{client}.too_big")
    assert error["isConvexError"] is False, error
    assert "InvalidValue" in error["message"], error
    assert f"integer {BIG} at top level is beyond 2**53" in error["message"], error
    assert FIX in error["message"], error


def test_python_live_query_gives_floats(py: dict[str, Any]) -> None:
    first, after = _value(py, "sub.first"), _value(py, "sub.next")
    assert type(first) is float and first == 2.0
    assert type(after) is float and after == 3.0
    assert _value(py, "sub.store") == {"amount": 1.5, "is_int": False}


# -- raw HTTP ---------------------------------------------------------------------------------


def _call(
    server: LivebaseServer, kind: str, path: str, args: dict[str, Any], fmt: str
) -> tuple[str, Any]:
    """One raw ``/api/<kind>`` call: the response text and its ``value``."""
    response = httpx.post(
        f"{server.url}/api/{kind}",
        json={"path": f"numbers:{path}", "args": args, "format": fmt},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return response.text, body["value"]


def test_raw_http_formats(server: LivebaseServer, tag: str) -> None:
    own = f"{tag}-raw"
    for kind in ("a", "a", "b"):
        _call(server, "mutation", "store", {"tag": own, "kind": kind, "amount": 2}, "json")

    # format json (the clean export): a plain JSON number (written 3.0 since the Numbers change;
    # 3 would say the same), never an int64's decimal string or {"$integer": ...}.
    text, value = _call(server, "query", "count", {"tag": own}, "json")
    assert type(value) in (int, float) and value == 3, text
    assert re.search(r'"value":3(\.0)?(?![.\d])', text) and "$integer" not in text, text
    text, value = _call(server, "query", "counts", {"tag": own}, "json")
    assert value == {"a": 2, "b": 1}, text
    assert all(type(n) in (int, float) for n in value.values()), text

    # format convex_encoded_json: a float64 written with its decimal point.
    text, value = _call(server, "query", "count", {"tag": own}, "convex_encoded_json")
    assert type(value) is float and value == 3.0, text
    assert re.search(r'"value":3\.0(?!\d)', text) and "$integer" not in text, text
    text, value = _call(server, "query", "counts", {"tag": own}, "convex_encoded_json")
    assert value == {"a": 2.0, "b": 1.0} and all(type(n) is float for n in value.values()), text

    # int64: a decimal string in json, {"$integer": 8 bytes LE} in encoded JSON.
    assert _call(server, "query", "big", {}, "json")[1] == str(BIG)
    encoded = _call(server, "query", "big", {}, "convex_encoded_json")[1]
    assert struct.unpack("<q", base64.b64decode(encoded["$integer"])) == (BIG,)

    # A JSON integer for an `int` argument.
    _, value = _call(server, "mutation", "take_int", {"n": 20}, "json")
    assert value == {"n": 20, "type": "int", "next": 21}

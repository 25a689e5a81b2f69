"""``POST /api/import`` and ``livebase import`` on a real server: schema checks, triggers run for
imported documents, all-or-nothing batches, admin only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.apps import write_app
from tests.support.server import LivebaseServer, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "events": define_table({"kind": v.string(), "n": v.int64()}),
            "totals": define_table({"kind": v.string(), "count": v.int64()}).index(
                "by_kind", ["kind"]),
        })
    """,
    "events.py": """
        from livebase import query, trigger


        @trigger("events")
        def tally(ctx, change):
            kind = change.new_doc["kind"]
            q = ctx.db.query("totals")
            row = q.with_index("by_kind", lambda r: r.eq("kind", kind)).unique()
            if row is None:
                ctx.db.insert("totals", {"kind": kind, "count": 1})
            else:
                ctx.db.patch(row["_id"], {"count": row["count"] + 1})


        @query
        def totals(ctx) -> dict:
            return {r["kind"]: r["count"] for r in ctx.db.query("totals").collect()}


        @query
        def count(ctx) -> float:
            return float(len(ctx.db.query("events").collect()))
    """,
}


def line(kind: str, n: int) -> str:
    return json.dumps({"kind": kind, "n": {"$integer": _int64(n)}})


def _int64(n: int) -> str:
    import base64

    return base64.b64encode(n.to_bytes(8, "little", signed=True)).decode()


def query(server: LivebaseServer, path: str) -> Any:
    body = httpx.post(f"{server.url}/api/query", json={"path": path, "args": {}}).json()
    assert body["status"] == "success", body
    return body["value"]


def test_http_import_runs_triggers_and_is_all_or_nothing(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    with LivebaseServer.launch(tmp_path / "s", app=app) as server:
        auth = {"authorization": f"Convex {server.admin_key}"}
        body = "\n".join(line("click" if i % 3 else "view", i) for i in range(30))
        ok = httpx.post(f"{server.url}/api/import?table=events", content=body, headers=auth)
        assert ok.status_code == 200 and ok.json() == {"table": "events", "imported": 30}
        assert query(server, "events:count") == 30.0
        totals = query(server, "events:totals")
        assert {k: _decode(v) for k, v in totals.items()} == {
            "click": 20,
            "view": 10,
        }

        bad = body + "\n" + json.dumps({"kind": "click", "n": "not a number"})
        refused = httpx.post(f"{server.url}/api/import?table=events", content=bad, headers=auth)
        assert refused.status_code == 400
        assert "document 31" in refused.json()["message"]
        assert query(server, "events:count") == 30.0  # nothing of the failed batch

        anonymous = httpx.post(f"{server.url}/api/import?table=events", content=body)
        assert anonymous.status_code == 401
        system = httpx.post(
            f"{server.url}/api/import?table=_scheduled_functions", content=body, headers=auth
        )
        assert system.status_code == 400
        garbage = httpx.post(f"{server.url}/api/import?table=events", content="{", headers=auth)
        assert garbage.status_code == 400 and "line 1" in garbage.json()["message"]


def _decode(value: dict[str, str]) -> int:
    import base64

    return int.from_bytes(base64.b64decode(value["$integer"]), "little", signed=True)


def test_cli_import_sends_batches_with_progress(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", APP)
    data = tmp_path / "events.jsonl"
    data.write_text("\n".join(line("k", i) for i in range(2500)) + "\n")
    with LivebaseServer.launch(tmp_path / "s", app=app) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "livebase",
                "import",
                "events",
                str(data),
                "--url",
                server.url,
                "--admin-key",
                server.admin_key,
                "--batch",
                "1000",
            ],
            capture_output=True,
            text=True,
            env=base_env(),
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "imported 2500 documents into events" in result.stdout
        assert "2500/2500" in result.stderr  # the progress bar
        assert query(server, "events:count") == 2500.0

        missing = subprocess.run(
            [
                sys.executable,
                "-m",
                "livebase",
                "import",
                "events",
                str(tmp_path / "nope.jsonl"),
                "--url",
                server.url,
                "--admin-key",
                server.admin_key,
            ],
            capture_output=True,
            text=True,
            env=base_env(),
            timeout=60,
            check=False,
        )
        assert missing.returncode == 2 and "cannot read" in missing.stderr

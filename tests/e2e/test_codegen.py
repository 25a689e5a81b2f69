"""``livebase codegen``: the generated ``api.d.ts`` type-checks a TypeScript caller with ``tsc``
(right arguments pass, wrong ones are errors naming the field) and ``api.js`` calls a real
server through the official ``ConvexHttpClient``; the generated ``api.py`` type-checks with mypy
(strict) and calls a real server through ``livebase.client``."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from livebase.client import Client
from tests.support.apps import write_app
from tests.support.server import LivebaseServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

FILES = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({
            "messages": define_table({"channel": v.string(), "body": v.string(), "n": v.int64()})
                .index("by_channel", ["channel"]),
        })
    """,
    "messages.py": """
        from livebase import internal_mutation, mutation, query, v


        @query(args={"channel": v.string(), "limit": v.optional(v.number())},
               returns=v.array(v.object({"body": v.string(), "n": v.int64()})))
        def list(ctx, channel, limit=None):
            rows = ctx.db.query("messages").with_index(
                "by_channel", lambda q: q.eq("channel", channel))
            return [{"body": r["body"], "n": r["n"]} for r in rows.collect()]


        @mutation(returns=v.id("messages"))
        def send(ctx, channel: str, body: str, kind: str = "text", priority: int = 0):
            return ctx.db.insert("messages", {"channel": channel, "body": body, "n": 7})


        @internal_mutation
        def wipe(ctx) -> None:
            for row in ctx.db.query("messages").collect():
                ctx.db.delete(row["_id"])
    """,
}

GOOD_TS = """
import { ConvexHttpClient } from "convex/browser";
import { api, internal } from "./_generated/api.js";

const client = new ConvexHttpClient(process.argv[2]);
const sent = { channel: "a", body: "hi", priority: 2 };
const id: string = await client.mutation(api.messages.send, sent);
const rows = await client.query(api.messages.list, { channel: "a" });
const first: bigint = rows[0].n;
const text: string = rows[0].body;
const ref: typeof internal.messages.wipe = internal.messages.wipe;
const shown = { id: id.length > 0, body: text, n: String(first), ref: ref !== undefined };
console.log(JSON.stringify(shown));
"""

BAD_TS = """
import { ConvexHttpClient } from "convex/browser";
import { api } from "./_generated/api.js";

const client = new ConvexHttpClient("http://127.0.0.1:1");
await client.query(api.messages.list, { channel: 1 });
const wrong: string = (await client.query(api.messages.list, { channel: "a" }))[0].n;
await client.mutation(api.messages.send, { channel: "a", body: "x", priority: 2n });
"""

GOOD_PY = """
from livebase.client import Client

from api import messages_list, messages_send


async def main(client: Client) -> str:
    await messages_send(client, {"channel": "a", "body": "hi"})
    rows = await messages_list(client, {"channel": "a", "limit": 5.0})
    n: int = rows[0]["n"]
    return str(n)
"""

BAD_PY = """
from livebase.client import Client

from api import messages_list, messages_send


async def main(client: Client) -> None:
    await messages_list(client, {"channel": 1})
    await messages_list(client, {"chanel": "a"})
    await messages_send(client, {"channel": "a", "body": "x", "priority": 2.5})
"""


def codegen(app: Path, out: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "livebase", "codegen", str(app), "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} >= {"api.d.ts", "api.js", "api.py"}
    assert "api.d.ts" in done.stdout


def test_typescript_bindings(tmp_path: Path, js_client_dir: Path) -> None:
    tsc = js_client_dir / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), "typescript is missing from tests/clients/js: run npm ci there"
    app = write_app(tmp_path / "app", FILES)
    work = tmp_path / "ts"
    work.mkdir()
    (work / "node_modules").symlink_to(js_client_dir / "node_modules")
    (work / "package.json").write_text('{"type": "module"}')
    codegen(app, work / "_generated")
    config = ('{"compilerOptions": {"target": "es2022", "module": "nodenext", "strict": true, '
              '"noEmit": true, "skipLibCheck": true, "types": []}, "files": ["%s"]}')  # fmt: skip

    def check(name: str, source: str) -> subprocess.CompletedProcess[str]:
        (work / name).write_text(source)
        (work / "tsconfig.json").write_text(config % name)
        return subprocess.run(
            [str(tsc), "-p", str(work / "tsconfig.json")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    (work / "node.d.ts").write_text("declare const process: { argv: string[] };\n")
    good = check("good.mts", '/// <reference path="./node.d.ts" />' + GOOD_TS)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = check("bad.mts", BAD_TS)
    assert bad.returncode != 0
    column = BAD_TS.splitlines()[5].index("channel") + 1  # the error points at the field
    assert f"bad.mts(6,{column})" in bad.stdout, bad.stdout
    assert "'number' is not assignable to type 'string'" in bad.stdout, bad.stdout
    assert "bad.mts(7," in bad.stdout and "bigint" in bad.stdout, bad.stdout
    # The hint ``int`` is a number in TypeScript (a whole float64), not a bigint.
    assert "bad.mts(8," in bad.stdout and "'bigint' is not assignable to type 'number'" in (
        bad.stdout
    ), bad.stdout

    # api.js is Convex's anyApi: the official client calls the real server with it.
    with LivebaseServer.launch(tmp_path / "s", app=app) as server:
        js = (work / "good.mts").read_text()
        (work / "run.mjs").write_text(
            js.split("\n", 1)[1]
            .replace(": string", "")
            .replace(": bigint", "")
            .replace(": typeof internal.messages.wipe", "")
        )  # plain JavaScript
        ran = subprocess.run(
            ["node", str(work / "run.mjs"), server.url],
            capture_output=True, text=True, timeout=60, check=False, cwd=work,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert '"body":"hi"' in ran.stdout and '"n":"7"' in ran.stdout, ran.stdout


def test_python_bindings(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", FILES)
    out = tmp_path / "py"
    codegen(app, out)
    env = {**os.environ, "MYPYPATH": str(out)}

    def mypy(name: str, source: str) -> subprocess.CompletedProcess[str]:
        (out / name).write_text(source)
        return subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(out / name)],
            capture_output=True, text=True, timeout=180, check=False, env=env, cwd=out,
        )  # fmt: skip

    good = mypy("good.py", GOOD_PY)
    assert good.returncode == 0, good.stdout
    bad = mypy("bad.py", BAD_PY)
    assert bad.returncode != 0
    assert "bad.py:8: error" in bad.stdout and '"channel"' in bad.stdout, bad.stdout
    assert "bad.py:9: error" in bad.stdout and '"chanel"' in bad.stdout, bad.stdout
    assert "bad.py:10: error" in bad.stdout and '"priority"' in bad.stdout, bad.stdout

    spec = importlib.util.spec_from_file_location("generated_api", out / "api.py")
    assert spec is not None and spec.loader is not None
    api: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(api)
    assert not hasattr(api, "messages_wipe")  # internal functions are not for clients

    async def run(url: str) -> Any:
        async with Client(url) as client:
            await api.messages_send(client, {"channel": "b", "body": "yo"})
            subscription = api.messages_list_subscribe(client, {"channel": "b"})
            live = await anext(subscription)
            await subscription.aclose()
            return await api.messages_list(client, {"channel": "b"}), live

    with LivebaseServer.launch(tmp_path / "s", app=app) as server:
        rows, live = asyncio.run(run(server.url))
    assert rows == [{"body": "yo", "n": 7}] and live == rows

"""What a signed-in caller costs: the round trip of a trivial query over HTTP anonymously, with
the admin key, and with a user token (``Authorization: Bearer``, checked on every request: an
ES256 signature and the claims), next to a query that also reads ``ctx.auth``; then the sync
socket's sign-in: ``Authenticate`` with a user token until the identity-bumping Transition.
Starts ``livebase serve`` on a small app with the built-in accounts on 127.0.0.1; bounded by
``--requests``.

    .venv/bin/python bench/auth_overhead.py --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

import httpx
import websockets
from served import Served, served_module

APP = """
from livebase import query


@query
def ping(ctx) -> float:
    return 1.0


@query
def me(ctx):
    who = ctx.auth.get_user_identity()
    return None if who is None else who.token_identifier
"""
AUTH = """
from livebase import builtin

providers = [builtin()]
"""
EMAIL, PASSWORD = "bench@example.com", "bench password 0123"


def timed(http: httpx.Client, path: str, headers: dict[str, str], n: int) -> list[float]:
    body = {"path": path, "args": {}, "format": "json"}
    for _ in range(min(n, 20)):  # warm up
        http.post("/api/query", json=body, headers=headers)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        reply = http.post("/api/query", json=body, headers=headers)
        out.append(time.perf_counter() - t0)
        assert reply.json()["status"] == "success", reply.text
    return sorted(out)


def summary(samples: list[float]) -> str:
    p50 = samples[len(samples) // 2]
    p99 = samples[max(0, int(len(samples) * 0.99) - 1)]
    return f"{p50 * 1e3:8.2f} {p99 * 1e3:8.2f}"


async def socket_sign_ins(server: Served, token: str, n: int) -> list[float]:
    """Per socket: Connect, Authenticate, subscribe to ``work:me``; the time from sending
    Authenticate to the first result that shows the user."""
    out = []
    for _ in range(n):
        async with websockets.connect(server.ws_url) as ws:
            connect = {"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0,
                       "lastCloseReason": None, "clientTs": int(time.time() * 1000)}  # fmt: skip
            await ws.send(json.dumps(connect))
            t0 = time.perf_counter()
            auth = {"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": token}
            await ws.send(json.dumps(auth))
            add = {"type": "Add", "queryId": 0, "udfPath": "work:me", "args": [{}]}
            await ws.send(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0,
                                      "newVersion": 1, "modifications": [add]}))  # fmt: skip
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "Transition" and message["modifications"]:
                    assert message["modifications"][0]["value"] is not None, message
                    break
            out.append(time.perf_counter() - t0)
    return sorted(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with served_module(APP, more={"auth.py": AUTH}) as server:
        admin = (server.data / "admin_key").read_text().strip()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            added = http.post("/api/admin/users", json={"email": EMAIL, "password": PASSWORD},
                              headers={"authorization": f"Convex {admin}"})  # fmt: skip
            assert added.status_code == 200, added.text
            form = {"grant_type": "password", "username": EMAIL, "password": PASSWORD}
            t0 = time.perf_counter()
            signed_in = http.post("/auth/token", data=form)
            sign_in_ms = (time.perf_counter() - t0) * 1e3
            token = signed_in.json()["access_token"]
            print(f"{'call':<34} {'p50 ms':>8} {'p99 ms':>8}")
            for label, path, headers in [
                ("query, anonymous", "work:ping", {}),
                ("query, admin key", "work:ping", {"authorization": f"Convex {admin}"}),
                ("query, user token", "work:ping", {"authorization": f"Bearer {token}"}),
                ("query reading ctx.auth, user token", "work:me",
                 {"authorization": f"Bearer {token}"}),
            ]:  # fmt: skip
                print(f"{label:<34} {summary(timed(http, path, headers, args.requests))}")
        sockets = asyncio.run(socket_sign_ins(server, token, min(args.requests, 200)))
        print(f"{'socket: Authenticate -> result':<34} {summary(sockets)}")
        print(f"sign-in (POST /auth/token, argon2id): {sign_in_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fuzz the sync WebSocket for a long while: answers, tracebacks, memory and latency under fuzz.

Starts ``livebase serve examples/chat`` (default settings) and plays ``--passes`` passes (5) of
the same ``--sessions`` (5,000) fuzzed sessions against it, ``--rate`` (50) started per second,
at most ``--concurrency`` (32) at once. A session is what a client would send (Connect,
ModifyQuerySet adding and removing queries, mutations, actions, Authenticate, Event), with some
frames mutated (``--mutate``: a field dropped, or replaced by an odd value such as 1.7, 1e300,
``true`` or 500-deep arrays), some garbage (``--garbage``: not JSON, binary, cut short) and some
pipelined (several in one TCP write). Every frame is judged by ``tests/e2e/sync_fuzz.py``: a
request is answered by its reply or by a protocol close with a reason; a dropped connection, a
1011 close, a non-JSON server frame or a request still unanswered 10 s after the session's last
frame is a failure.

Reported per pass: sessions, frames, requests, unanswered, dropped connections, 1011 closes,
tracebacks and "Task exception was never retrieved" lines in the server log (cumulative), the
server's RSS after the pass (and before the first), and the sync gauges (open connections and
subscriptions: only the probe's should remain). A well-behaved client in its own process calls
once every 20 ms throughout, alternating a query (subscribe until the Transition with its
result) and a mutation (until its MutationResponse and the Transition after it): p50/p99 of each
during the passes ("under fuzz") against the idle phase and the quiet gaps between passes
("idle"), so that a change in the machine's background load moves both alike.

    .venv/bin/python bench/fuzz_sync.py                         # 5 x 5,000 sessions, ~10 min
    .venv/bin/python bench/fuzz_sync.py --sessions 1000 --passes 2 --json
    .venv/bin/python bench/fuzz_sync.py --rate 0 --concurrency 16       # as fast as it goes
    .venv/bin/python bench/fuzz_sync.py --same-ids      # passes 2..5 replay: nothing new written
    .venv/bin/python bench/fuzz_sync.py --src /other/checkout/src       # measure another build
    .venv/bin/python bench/fuzz_sync.py --durability normal             # no fsync per commit
    .venv/bin/python bench/fuzz_sync.py --server-env LIVEBASE_SQLITE_CACHE_MIB=1  # a server setting

Exit code 1 on any unanswered request, dropped connection or 1011 close. Only 127.0.0.1 is used;
every loop is bounded by a session count or a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402
from served import ServerDidNotStart, served  # noqa: E402

from tests.e2e.sync_fuzz import Batch, Outcome, run_session  # noqa: E402

CHANNELS = [f"fuzz-{i}" for i in range(8)]
QUERIES = ["messages:list", "messages:count", "messages:echo", "messages.js:count", "nope:q"]
ODD = [1.7, 1e300, 2.0, -1, 2**32, True, None, "0", "", [], {}, [{}], "x" * 3000,
       {"$integer": "AQ=="}, {"$integer": "AQAAAAAAAAA="}, {"$set": []}, {"$bytes": 7}]  # fmt: skip
DEPTHS = [17, 100, 500, 800, 1000, 1100]
DEEP = re.compile(r'"@deep(\d+)@"')
ADMIN_KEY = "fuzz-sync-bench-admin-key-0123456789abcdef"


# -- sessions -------------------------------------------------------------------------------------


class Fuzzer:
    """Random sessions from one seed: the same seed gives the same sessions. Session ids are new
    each time (every pass writes new data, as new clients would), or with ``same_ids`` drawn
    from the seed too (a pass after the first writes nothing new: its mutations are replays)."""

    def __init__(self, seed: int, mutate: float, garbage: float, same_ids: bool = False) -> None:
        self.rng = random.Random(seed)
        self.same_ids = same_ids
        self.mutate_p = mutate
        self.garbage_p = garbage

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if depth > 2 or r < 0.5:
            return self.rng.choice([None, True, 1.5, -3.0, 42.0, "hi", "ü", self.rng.random()])
        if r < 0.7:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 3))]
        if r < 0.9:
            return {f"k{i}": self.value(depth + 1) for i in range(self.rng.randint(0, 3))}
        return self.odd()

    def odd(self) -> Any:
        if self.rng.random() < 0.3:
            return f"@deep{self.rng.choice(DEPTHS)}@"
        return self.rng.choice(ODD)

    def session_id(self) -> str:
        if self.same_ids:  # the same ids each pass: mutations after the first are replays
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return str(uuid.uuid4())

    def valid_session(self) -> list[dict[str, Any]]:
        rng = self.rng
        frames: list[dict[str, Any]] = [
            {"type": "Connect", "sessionId": self.session_id(), "connectionCount": 0,
             "lastCloseReason": "InitialConnect", "clientTs": 0}
        ]  # fmt: skip
        query_set, identity, request_id, query_id = 0, 0, 0, 0
        live: list[int] = []
        for _ in range(rng.randint(0, 13)):
            r = rng.random()
            if r < 0.3:
                mods: list[dict[str, Any]] = []
                for _ in range(rng.randint(1, 3)):
                    if live and rng.random() < 0.3:
                        mods.append({"type": "Remove", "queryId": live.pop()})
                        continue
                    path = rng.choice(QUERIES)
                    args: dict[str, Any] = {"channel": rng.choice(CHANNELS)}
                    if path == "messages:list":
                        args["limit"] = float(rng.randint(1, 20))
                    elif path == "messages:echo":
                        args = {"value": self.value()}
                    mods.append({"type": "Add", "queryId": query_id, "udfPath": path,
                                 "args": [args]})  # fmt: skip
                    live.append(query_id)
                    query_id += 1
                frames.append({"type": "ModifyQuerySet", "baseVersion": query_set,
                               "newVersion": query_set + 1, "modifications": mods})  # fmt: skip
                query_set += 1
            elif r < 0.65:
                body = rng.choice(["hello", "fuzz", " ", "x" * 100])
                frames.append({"type": "Mutation", "requestId": request_id,
                               "udfPath": rng.choice(["messages:send", "counters:increment"]),
                               "args": [{"channel": rng.choice(CHANNELS), "body": body,
                                         "name": "fuzz"}]})  # fmt: skip
                request_id += 1
            elif r < 0.8:
                if rng.random() < 0.5:
                    call = {"udfPath": "actions:slow_sum", "args": [{"a": 1.0, "b": 2.0}]}
                else:
                    body = {"channel": rng.choice(CHANNELS), "body": "shout"}
                    call = {"udfPath": "actions:shout", "args": [body]}
                frames.append({"type": "Action", "requestId": request_id, **call})
                request_id += 1
            elif r < 0.9:
                kind = rng.choice(["None", "None", "Admin", "User"])
                frame = {"type": "Authenticate", "baseVersion": identity, "tokenType": kind}
                if kind != "None":
                    frame["value"] = "not-the-key"
                frames.append(frame)
                identity += 1
            else:
                frames.append({"type": "Event", "eventType": "ClientConnect", "event": {}})
        return frames

    def mutated(self, frame: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        spots: list[tuple[Any, Any]] = []
        stack: list[Any] = [frame]
        while stack:
            node = stack.pop()
            for key in node.keys() if isinstance(node, dict) else range(len(node)):
                spots.append((node, key))
                if isinstance(node[key], (dict, list)):
                    stack.append(node[key])
        node, key = rng.choice(spots)
        r = rng.random()
        if r < 0.25 and isinstance(node, dict):
            del node[key]
        elif r < 0.35:
            frame["type"] = rng.choice(["mutation", "Query", "", "Transition", "Ping", 7])
        else:
            node[key] = self.odd() if rng.random() < 0.7 else self.value()
        return frame

    def garbage(self, text: str) -> str | bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return text[: rng.randint(0, max(0, len(text) - 1))]
        if r < 0.45:
            return text.encode()
        if r < 0.6:
            return rng.choice(["", "null", "[]", "42", '"Connect"', "{}", "\ufeff{}", "NaN"])
        if r < 0.75:
            return "[" * 2000 + "]" * 2000
        return "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 40)))

    def session(self) -> list[Batch]:
        texts: list[str | bytes] = []
        for frame in self.valid_session():
            r = self.rng.random()
            if r < self.mutate_p:
                frame = self.mutated(frame)
            text = encode(frame)
            if self.mutate_p <= r < self.mutate_p + self.garbage_p:
                texts.append(self.garbage(text))
            else:
                texts.append(text)
        batches: list[Batch] = []
        while texts:
            size = 1 if self.rng.random() < 0.6 else self.rng.randint(2, 5)
            batches.append(texts[:size])
            texts = texts[size:]
        return batches


def encode(frame: Any) -> str:
    text = json.dumps(frame)
    return DEEP.sub(lambda m: "[" * int(m.group(1)) + "0" + "]" * int(m.group(1)), text)


# -- one pass -------------------------------------------------------------------------------------


async def fuzz_pass(
    ws_url: str, sessions: list[list[Batch]], concurrency: int, rate: float
) -> dict[str, Any]:
    """Play ``sessions``, at most ``concurrency`` at once, starting ``rate`` per second (0: as
    fast as they finish)."""
    totals: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    samples: list[str] = []
    queue = list(reversed(sessions))
    started = time.monotonic()
    next_start = [started]

    async def worker() -> None:
        while queue:
            batches = queue.pop()
            if rate > 0:
                at, next_start[0] = next_start[0], next_start[0] + 1 / rate
                await asyncio.sleep(max(0.0, at - time.monotonic()))
            try:
                out: Outcome = await run_session(ws_url, batches, answer_timeout=10.0)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                totals["connect_failures"] += 1
                if len(samples) < 10:
                    samples.append(f"connect: {exc!r}")
                continue
            totals["sessions"] += 1
            totals["frames"] += out.frames
            totals["requests"] += out.requests
            totals["unanswered"] += len(out.unanswered)
            totals["dropped"] += out.dropped
            totals["server_errors"] += out.server_error
            totals["bad_server_frames"] += len(out.bad_server_frames)
            totals["chain_errors"] += len(out.chain_errors)
            codes[str(out.close_code) if out.closed_by_server else "open"] += 1
            if not out.ok and len(samples) < 10:
                samples.append("; ".join(out.problems())[:400])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {**totals, "seconds": round(time.monotonic() - started, 1),
            "close_codes": dict(codes), "failure_samples": samples}  # fmt: skip


# -- the well-behaved client ----------------------------------------------------------------------


async def probe(ws_url: str, seconds: float, every: float, out: Path) -> None:
    """A well-behaved client, one call every ``every`` seconds, alternating a query (Add a
    subscription, until the Transition carrying its result; then Remove it) and a mutation
    (until its MutationResponse and the Transition after it). One line ``<unix time> <query|
    mutation> <seconds>`` per call, appended to ``out`` as measured."""
    from tests.e2e.sync_wire import SyncSocket, decode_ts

    sock = await SyncSocket.open(ws_url.removesuffix("/api/sync"))
    deadline = time.monotonic() + seconds
    n = 0
    try:
        with open(out, "a") as f:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                if n % 2 == 0:
                    kind = "query"
                    version = await sock.modify([(n, "messages:count", {"channel": "probe"})])
                    await sock.wait_query_set(version)
                    took = time.perf_counter() - t0
                    await sock.wait_query_set(await sock.modify([], removes=(n,)))
                else:
                    kind = "mutation"
                    call = {"udfPath": "counters:increment", "args": [{"name": "probe"}]}
                    await sock.send({"type": "Mutation", "requestId": n, **call})
                    reply = await sock.wait_for(
                        lambda m, n=n: m["type"] == "MutationResponse" and m["requestId"] == n,
                        30,
                    )
                    ts = decode_ts(reply["ts"])
                    await sock.wait_for(
                        lambda m, ts=ts: (
                            m["type"] == "Transition" and decode_ts(m["endVersion"]["ts"]) >= ts
                        ),
                        30,
                    )
                    took = time.perf_counter() - t0
                f.write(f"{time.time():.6f} {kind} {took:.6f}\n")
                f.flush()
                n += 1
                await asyncio.sleep(max(0.0, every - (time.perf_counter() - t0)))
    finally:
        await sock.close()


def start_probe(ws_url: str, seconds: float, every: float, out: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, __file__, "--probe", ws_url, "--probe-seconds", str(seconds),
           "--probe-every", str(every), "--probe-out", str(out)]  # fmt: skip
    return subprocess.Popen(cmd)


def read_probe(
    out: Path, kind: str, windows: list[tuple[float, float]] | None = None
) -> list[float]:
    samples = []
    for line in out.read_text().splitlines():
        at, what, took = line.split()
        if what == kind and (windows is None or any(a <= float(at) <= b for a, b in windows)):
            samples.append(float(took))
    return samples


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3


# -- the server -----------------------------------------------------------------------------------



def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def log_counts(path: Path) -> dict[str, int]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return {
        "tracebacks": text.count("Traceback (most recent call last)"),
        "task_never_retrieved": text.count("Task exception was never retrieved"),
        "error_lines": len(re.findall(r"^\S+ \S+ ERROR ", text, re.M)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5000, help="sessions per pass (5000)")
    parser.add_argument("--passes", type=int, default=5, help="passes of the same sessions (5)")
    parser.add_argument("--concurrency", type=int, default=32, help="sessions at once (32)")
    parser.add_argument(
        "--rate", type=float, default=50.0, help="sessions started per second (50; 0: no limit)"
    )
    parser.add_argument(
        "--same-ids", action="store_true", help="the same session ids every pass (replays)"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--mutate", type=float, default=0.2, help="share of frames mutated")
    parser.add_argument("--garbage", type=float, default=0.05, help="share of frames garbage")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="idle latency phase")
    parser.add_argument("--settle", type=float, default=5.0, help="quiet pause after each pass (5)")
    parser.add_argument("--src", default=str(ROOT / "src"), help="livebase source to serve")
    parser.add_argument(
        "--durability", default="fsync-per-commit", help="the server's --durability (its default)"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="LIVEBASE_NAME=VALUE",
        help="a setting for the server (repeatable); the caller's LIVEBASE_* are not passed on",
    )
    parser.add_argument("--json", action="store_true", help="also print the JSON report")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--probe-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--probe-every", type=float, default=0.02, help="seconds between calls")
    parser.add_argument("--probe-out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.probe:
        asyncio.run(probe(args.probe, args.probe_seconds, args.probe_every, Path(args.probe_out)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        # The server gets none of the caller's LIVEBASE_* settings, only --server-env's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEBASE_")}
        env["LIVEBASE_ADMIN_KEY"] = ADMIN_KEY
        for setting in args.server_env:
            name, sep, value = setting.partition("=")
            if not sep or not name.startswith("LIVEBASE_"):
                parser.error(f"--server-env {setting!r}: expected LIVEBASE_NAME=value")
            env[name] = value
        app, data = ROOT / "examples" / "chat", Path(tmp) / "data"
        server_args = ["--durability", args.durability]
        try:
            with served(app, data, src=args.src, env=env, args=server_args) as server:
                return run(args, server.process, server.url, server.ws_url, server.log_path,
                           Path(tmp))  # fmt: skip
        except ServerDidNotStart as exc:
            print(exc, file=sys.stderr)
            return 1


def gauges(url: str, admin_key: str) -> dict[str, float]:
    """The sync gauges: open connections and subscriptions (the probe's own included)."""
    text = httpx.get(
        f"{url}/metrics", headers={"Authorization": f"Convex {admin_key}"}, timeout=10
    ).text
    out = {}
    for name in ("livebase_sync_connections", "livebase_subscriptions"):
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        out[name.removeprefix("livebase_")] = float(match.group(1)) if match else float("nan")
    return out


def run(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    url: str,
    ws_url: str,
    log_path: Path,
    tmp: Path,
) -> int:
    report: dict[str, Any] = {"args": {k: v for k, v in vars(args).items()
                                       if not k.startswith("probe")}}  # fmt: skip
    print(f"idle latency: {args.idle_seconds:g} s ...", file=sys.stderr)
    idle_out, busy_out = tmp / "idle.txt", tmp / "busy.txt"
    start_probe(ws_url, args.idle_seconds, args.probe_every, idle_out).wait()
    time.sleep(args.settle)
    report["rss_mb_start"] = round(rss_mb(server.pid), 1)
    print(f"server RSS before fuzzing: {report['rss_mb_start']} MB", file=sys.stderr)

    # One probe runs throughout: its calls during a pass count as "under fuzz", those in the
    # quiet gaps between passes (and in the idle phase before) as "idle", so a change in the
    # machine's background load over the run moves both alike.
    busy_probe = start_probe(ws_url, 24 * 3600, args.probe_every, busy_out)
    passes, windows, quiet = [], [], [(time.time() - args.settle + 0.5, time.time())]
    try:
        for n in range(1, args.passes + 1):
            # The same sessions each pass.
            fuzzer = Fuzzer(args.seed, args.mutate, args.garbage, args.same_ids)
            sessions = [fuzzer.session() for _ in range(args.sessions)]
            print(f"pass {n}: {len(sessions)} sessions ...", file=sys.stderr)
            started = time.time()
            result = asyncio.run(fuzz_pass(ws_url, sessions, args.concurrency, args.rate))
            ended = time.time()
            windows.append((started, ended))
            time.sleep(args.settle)
            quiet.append((ended + 0.5, time.time()))
            if server.poll() is not None:
                print("the server exited", file=sys.stderr)
                return 1
            result["rss_mb_after"] = round(rss_mb(server.pid), 1)
            result.update(log_counts(log_path))  # cumulative
            result["gauges"] = gauges(url, ADMIN_KEY)
            passes.append(result)
            print(f"  {result}", file=sys.stderr)
    finally:
        busy_probe.terminate()
        busy_probe.wait(30)
    report["passes"] = passes
    report["server_up"] = httpx.get(f"{url}/version", timeout=5).status_code == 200
    report["latency_ms"] = {}
    for kind in ("query", "mutation"):
        idle = read_probe(idle_out, kind) + read_probe(busy_out, kind, quiet)
        busy = read_probe(busy_out, kind, windows)
        p99_idle, p99_busy = percentile(idle, 0.99), percentile(busy, 0.99)
        report["latency_ms"][kind] = {
            "idle_p50": round(percentile(idle, 0.5), 2),
            "idle_p99": round(p99_idle, 2),
            "idle_n": len(idle),
            "fuzz_p50": round(percentile(busy, 0.5), 2),
            "fuzz_p99": round(p99_busy, 2),
            "fuzz_n": len(busy),
            "p99_ratio": round(p99_busy / p99_idle, 2),
        }
    print_report(report)
    if args.json:
        print(json.dumps(report, indent=2))
    failed = any(p.get("unanswered") or p.get("dropped") or p.get("server_errors")
                 for p in passes)  # fmt: skip
    return 1 if failed or not report["server_up"] else 0


def print_report(report: dict[str, Any]) -> None:
    print(f"{'pass':>4} {'sessions':>8} {'frames':>8} {'requests':>8} {'unanswered':>10} "
          f"{'dropped':>7} {'1011':>5} {'tracebacks':>10} {'never-retr':>10} {'RSS MB':>7} "
          f"{'conns':>5} {'subs':>5} {'s':>6}")  # fmt: skip
    print(f"{'-':>4} {'':>8} {'':>8} {'':>8} {'':>10} {'':>7} {'':>5} {'':>10} {'':>10} "
          f"{report['rss_mb_start']:7.1f}")  # fmt: skip
    for n, p in enumerate(report["passes"], 1):
        g = p["gauges"]
        print(
            f"{n:>4} {p.get('sessions', 0):>8} {p.get('frames', 0):>8} "
            f"{p.get('requests', 0):>8} {p.get('unanswered', 0):>10} {p.get('dropped', 0):>7} "
            f"{p.get('server_errors', 0):>5} {p['tracebacks']:>10} "
            f"{p['task_never_retrieved']:>10} {p['rss_mb_after']:7.1f} "
            f"{g['sync_connections']:5.0f} {g['subscriptions']:5.0f} {p['seconds']:6.1f}"
        )
    for kind, lat in report["latency_ms"].items():
        print(f"{kind} round trip, well-behaved client: idle p50 {lat['idle_p50']} ms p99 "
              f"{lat['idle_p99']} ms (n={lat['idle_n']}); under fuzz p50 {lat['fuzz_p50']} ms "
              f"p99 {lat['fuzz_p99']} ms (n={lat['fuzz_n']}), p99 x{lat['p99_ratio']}")  # fmt: skip
    print(f"server up after the run: {report['server_up']}")


if __name__ == "__main__":
    sys.exit(main())

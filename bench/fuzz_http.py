"""Long HTTP fuzzing run against a real ``livebase serve``: answers, 5xx, tracebacks, memory,
latency under fuzzing, and slow-loris connections.

    .venv/bin/python bench/fuzz_http.py                  # 5 passes of 4,800 requests (~24,000)
    .venv/bin/python bench/fuzz_http.py --requests 1000 --passes 2 --slow-heads 50 --json

1. Starts ``python -m livebase serve examples/chat`` with default settings (a temporary data
   folder) and generates ``--requests`` hostile requests with the hypothesis strategies of
   ``tests/support/http_fuzz.py`` (seeded by ``--seed``), each sent on its own connection.
2. Idle latency: ``--probes`` well-formed ``POST /api/query`` calls, one every 5 ms on one
   keep-alive connection; p50/p99.
3. ``--passes`` times: the same corpus is sent by ``--workers`` processes (closed loop) while the
   probe keeps running ("under fuzzing"); then ``--giants`` each of a 64 MB header, a 64 MB URL
   and 17 MB of arguments, one after another, with the probe still running (reported apart: one
   17 MB call holds the server's loop for 0.1-0.2 s of JSON parsing); then the server's RSS is
   read (``/proc/<pid>/status``, VmRSS).
4. Slow loris: ``--slow-heads`` connections send a header line, ``--slow-bodies`` a body byte,
   every ``--trickle`` s; after ``--slow-wait`` s (default: the body deadline + 10 s) it counts
   how many the server still holds open.
5. Counts tracebacks and "unhandled error" lines in the server's log.

An answer is a status line; a close without one (after a refusal, or for an upgrade that went
wrong) is counted as "closed"; no answer within 30 s is "unanswered". The report is a table on
stdout (``--json`` adds the JSON document). The exit code is 1 if any request got a 5xx or no
answer, or if the log holds a traceback.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

import http_mutations as hm  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests.support.http_fuzz import http_requests, read_status, send_request  # noqa: E402

ADMIN_KEY = "livebase-fuzz-bench-admin-key"
PROBE_BODY = b'{"path":"messages:echo","args":{"value":1},"format":"json"}'
PROBE = (
    b"POST /api/query HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%b" % (len(PROBE_BODY), PROBE_BODY)
)


def log(message: str) -> None:
    print(f"[fuzz_http] {message}", file=sys.stderr, flush=True)


def make_corpus(n: int, seed_value: int) -> list[bytes]:
    corpus: list[bytes] = []

    @seed(seed_value)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(http_requests(ADMIN_KEY))
    def collect(request: Any) -> None:
        corpus.append(request.data)

    collect()
    return corpus


def giants() -> list[bytes]:
    """A 64 MB header, a 64 MB URL, 17 MB of arguments (as whole requests)."""
    big = b"a" * (64 << 20)
    args = b'{"path":"messages:echo","args":{"value":"' + b"x" * (17 << 20) + b'"}}'
    return [
        b"GET / HTTP/1.1\r\nHost: bench\r\nX-Big: " + big + b"\r\n\r\n",
        b"GET /" + big + b" HTTP/1.1\r\nHost: bench\r\n\r\n",
        b"POST /api/function HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(args)
        + args,
    ]


def _send_all(port: int, requests: list[bytes], out: Any) -> None:
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    for data in requests:
        try:
            outcome = send_request(port, data, timeout=30.0)
        except (TimeoutError, OSError):
            statuses["unanswered"] += 1
            continue
        status = "closed" if outcome.status is None else str(outcome.status)
        statuses[status] += 1
        latencies.append(outcome.elapsed)
    out.put((dict(statuses), latencies))


class Pass:
    """``workers`` client processes, each sending its share of ``corpus``. Forked before any
    thread of this process starts."""

    def __init__(self, port: int, corpus: list[bytes], workers: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.queue: Any = ctx.Queue()
        slices = [corpus[i::workers] for i in range(workers)]
        self.procs = [ctx.Process(target=_send_all, args=(port, s, self.queue)) for s in slices]
        for proc in self.procs:
            proc.start()

    def results(self) -> tuple[Counter[str], list[float]]:
        statuses: Counter[str] = Counter()
        latencies: list[float] = []
        for _ in self.procs:
            got, lat = self.queue.get()
            statuses.update(got)
            latencies += lat
        for proc in self.procs:
            proc.join()
        return statuses, latencies


class Probe:
    """One keep-alive connection sending a small query every ``interval`` s."""

    def __init__(self, port: int, interval: float = 0.005) -> None:
        self.port = port
        self.interval = interval
        self.samples: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_for(self, count: int) -> list[float]:
        self.samples = []
        self._loop(count)
        return self.samples

    def start(self) -> None:
        self.samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(None,), daemon=True)
        self._thread.start()

    def stop(self) -> list[float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.samples

    def _loop(self, count: int | None) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        try:
            while (count is None or len(self.samples) < count) and not self._stop.is_set():
                started = time.perf_counter()
                sock.sendall(PROBE)
                status, got = read_status(sock, time.monotonic() + 30)
                length = int(got.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                have = len(got.partition(b"\r\n\r\n")[2])
                while have < length:
                    have += len(sock.recv(65536))
                if status != 200:
                    self.failures += 1
                self.samples.append(time.perf_counter() - started)
                time.sleep(self.interval)
        finally:
            sock.close()


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    if not s:
        return float("nan")
    return round(s[min(len(s) - 1, max(0, int(len(s) * p / 100 + 0.5) - 1))] * 1000, 2)


def slow_loris(port: int, heads: int, bodies: int, trickle: float, wait: float) -> dict[str, Any]:
    """Open the trickling connections, keep them trickling for ``wait`` s, count survivors."""
    conns: list[tuple[socket.socket, bytes]] = []
    for i in range(heads + bodies):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        if i < heads:
            sock.send(b"POST /api/query HTTP/1.1\r\nHost: slow\r\n")
            conns.append((sock, b"X-Slow: yes\r\n"))
        else:
            sock.send(b"POST /api/query HTTP/1.1\r\nHost: slow\r\nContent-Length: 100000\r\n\r\n{")
            conns.append((sock, b" "))
    started = time.monotonic()
    closed_at: dict[int, float] = {}
    answered: Counter[str] = Counter()
    while time.monotonic() - started < wait:
        time.sleep(trickle)
        for i, (sock, piece) in enumerate(conns):
            if i in closed_at:
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                data = None  # nothing from the server: still open, so trickle on
            except OSError:
                data = b""
            if data is not None:
                if data.startswith(b"HTTP/"):
                    answered[data.split(b" ", 2)[1].decode("latin-1", "replace")] += 1
                closed_at[i] = time.monotonic() - started  # answered (and closing) or closed
                continue
            try:
                sock.send(piece)
            except OSError:
                closed_at[i] = time.monotonic() - started
    head_open = sum(1 for i in range(heads) if i not in closed_at)
    body_open = sum(1 for i in range(heads, heads + bodies) if i not in closed_at)
    for sock, _ in conns:
        sock.close()
    heads_closed = [t for i, t in closed_at.items() if i < heads]
    bodies_closed = [t for i, t in closed_at.items() if i >= heads]
    return {
        "heads": heads,
        "bodies": bodies,
        "wait_s": wait,
        "heads_still_open": head_open,
        "bodies_still_open": body_open,
        "answers": dict(answered),
        "heads_closed_after_s": [round(min(heads_closed), 1), round(max(heads_closed), 1)]
        if heads_closed
        else None,
        "bodies_closed_after_s": [round(min(bodies_closed), 1), round(max(bodies_closed), 1)]
        if bodies_closed
        else None,
    }


def send_giants(port: int, big: list[bytes], rounds: int, status: Counter[str]) -> None:
    for _ in range(rounds):
        for data in big:
            try:
                outcome = send_request(port, data, timeout=60.0)
                status[str(outcome.status or "closed")] += 1
            except (TimeoutError, OSError):
                status["unanswered"] += 1


def server_rss(pid: int) -> float:
    return hm.rss_mb([pid])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4800, help="fuzzed requests per pass")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="client processes sending")
    parser.add_argument("--giants", type=int, default=2, help="of each giant request, per pass")
    parser.add_argument("--probes", type=int, default=2000, help="idle latency samples")
    parser.add_argument("--slow-heads", type=int, default=500)
    parser.add_argument("--slow-bodies", type=int, default=100)
    parser.add_argument("--trickle", type=float, default=5.0, help="s between trickled bytes")
    parser.add_argument("--slow-wait", type=float, default=None, help="default: 40 s")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--app", default=str(REPO_ROOT / "examples" / "chat"))
    parser.add_argument("--json", action="store_true", help="print the JSON document too")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="livebase-fuzz-"))
    port = hm.free_port()
    os.environ["LIVEBASE_ADMIN_KEY"] = ADMIN_KEY
    server = hm.Server(
        argparse.Namespace(app=args.app, pin=None), "normal", port, tmp / "data", tmp / "log"
    )
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "settings": vars(args),
    }
    try:
        log(f"generating {args.requests} requests (seed {args.seed})")
        corpus = make_corpus(args.requests, args.seed)
        doc["corpus"] = {"requests": len(corpus), "bytes": sum(map(len, corpus))}
        server.start()
        import asyncio

        asyncio.run(server.wait_ready(120))
        pid = server.pid
        probe = Probe(port)
        probe.run_for(200)  # warm-up
        idle = probe.run_for(args.probes)
        doc["idle"] = {"probes": len(idle), "p50_ms": pct(idle, 50), "p99_ms": pct(idle, 99)}
        doc["rss_start_mb"] = server_rss(pid)
        log(f"idle p99 {doc['idle']['p99_ms']} ms, RSS {doc['rss_start_mb']} MB")
        passes = []
        all_status: Counter[str] = Counter()
        all_latency: list[float] = []
        probe_samples: list[float] = []
        giant_samples: list[float] = []
        big = giants()
        for n in range(args.passes):
            started = time.monotonic()
            fuzz = Pass(port, corpus, args.workers)  # forked before the probe's thread starts
            probe.start()
            statuses, latencies = fuzz.results()
            samples = probe.stop()
            took = time.monotonic() - started
            probe.start()
            giant_status: Counter[str] = Counter()
            send_giants(port, big, args.giants, giant_status)
            during_giants = probe.stop()
            probe_samples += samples
            giant_samples += during_giants
            time.sleep(1.0)
            rss = server_rss(pid)
            all_status.update(statuses)
            all_status.update(giant_status)
            all_latency += latencies
            entry = {
                "pass": n + 1,
                "seconds": round(took, 1),
                "requests": sum(statuses.values()) + sum(giant_status.values()),
                "statuses": dict(sorted(statuses.items())),
                "giants": dict(giant_status),
                "fuzz_p50_ms": pct(latencies, 50),
                "fuzz_p99_ms": pct(latencies, 99),
                "fuzz_over_2s": sum(1 for x in latencies if x > 2.0),
                "probe_p50_ms": pct(samples, 50),
                "probe_p99_ms": pct(samples, 99),
                "probe_giants_p99_ms": pct(during_giants, 99),
                "probe_failures": probe.failures,
                "rss_mb": rss,
            }
            passes.append(entry)
            log(json.dumps(entry))
        doc["passes"] = passes
        fivexx = sum(v for k, v in all_status.items() if k.isdigit() and int(k) >= 500)
        doc["totals"] = {
            "requests": sum(all_status.values()),
            "statuses": dict(sorted(all_status.items())),
            "5xx": fivexx,
            "unanswered": all_status.get("unanswered", 0),
            "fuzz_p99_ms": pct(all_latency, 99),
            "fuzz_over_2s": sum(1 for x in all_latency if x > 2.0),
            "probe_p50_ms": pct(probe_samples, 50),
            "probe_p99_ms": pct(probe_samples, 99),
            "probe_giants_p50_ms": pct(giant_samples, 50),
            "probe_giants_p99_ms": pct(giant_samples, 99),
            "probe_giants_max_ms": pct(giant_samples, 100),
            "rss_first_pass_growth_mb": round(passes[0]["rss_mb"] - doc["rss_start_mb"], 1),
            "rss_last_vs_first_pass": round(passes[-1]["rss_mb"] / passes[0]["rss_mb"], 3),
        }
        wait = args.slow_wait if args.slow_wait is not None else 40.0
        log(f"slow loris: {args.slow_heads} heads + {args.slow_bodies} bodies for {wait:.0f} s")
        doc["slow_loris"] = slow_loris(port, args.slow_heads, args.slow_bodies, args.trickle, wait)
        doc["rss_end_mb"] = server_rss(pid)
        doc["alive_after"] = asyncio.run(hm.http_get(port, "/version", timeout=5.0))[0] == 200
    finally:
        server.stop()
        text = (tmp / "log").read_text(errors="replace") if (tmp / "log").exists() else ""
        doc["tracebacks"] = text.count("Traceback")
        doc["unhandled_errors"] = text.count("unhandled error")
        shutil.rmtree(tmp, ignore_errors=True)
    report(doc)
    if args.json:
        print(json.dumps(doc, indent=2))
    bad = doc["totals"]["5xx"] or doc["totals"]["unanswered"] or doc["tracebacks"]
    return 1 if bad else 0


def report(doc: dict[str, Any]) -> None:
    t = doc["totals"]
    print(f"date: {doc['date']}; machine: {doc['machine']}; python {doc['python']}")
    print(f"corpus: {doc['corpus']['requests']} requests, {doc['corpus']['bytes']} bytes")
    print("pass  requests  5xx  closed  fuzz p99 ms  >2s  probe p50/p99 ms  giants p99  RSS MB")
    for p in doc["passes"]:
        s = p["statuses"]
        fivexx = sum(v for k, v in s.items() if k.isdigit() and int(k) >= 500)
        print(
            f"{p['pass']:>4}  {p['requests']:>8}  {fivexx:>3}  {s.get('closed', 0):>6}  "
            f"{p['fuzz_p99_ms']:>11}  {p['fuzz_over_2s']:>3}  "
            f"{p['probe_p50_ms']:>7}/{p['probe_p99_ms']:<8}  {p['probe_giants_p99_ms']:>10}  "
            f"{p['rss_mb']:>6}"
        )
    print(
        f"total: {t['requests']} requests, {t['5xx']} 5xx, {t['unanswered']} unanswered, "
        f"tracebacks in the log: {doc['tracebacks']}, 'unhandled error': "
        f"{doc['unhandled_errors']}"
    )
    print(f"statuses: {t['statuses']}")
    print(
        f"idle probe p50/p99: {doc['idle']['p50_ms']}/{doc['idle']['p99_ms']} ms; under fuzzing "
        f"{t['probe_p50_ms']}/{t['probe_p99_ms']} ms; fuzzed requests p99 {t['fuzz_p99_ms']} ms, "
        f"{t['fuzz_over_2s']} over 2 s"
    )
    print(
        f"probe while the giant requests were sent: p50/p99/max {t['probe_giants_p50_ms']}/"
        f"{t['probe_giants_p99_ms']}/{t['probe_giants_max_ms']} ms"
    )
    print(
        f"RSS: {doc['rss_start_mb']} MB at start, first pass +{t['rss_first_pass_growth_mb']} MB, "
        f"last pass / first pass = {t['rss_last_vs_first_pass']}, {doc['rss_end_mb']} MB at end"
    )
    sl = doc["slow_loris"]
    print(
        f"slow loris after {sl['wait_s']:.0f} s: {sl['heads_still_open']}/{sl['heads']} "
        f"trickled heads and {sl['bodies_still_open']}/{sl['bodies']} trickled bodies still "
        f"open; closed after {sl['heads_closed_after_s']} / {sl['bodies_closed_after_s']} s; "
        f"answers {sl['answers']}"
    )
    print(f"server answering afterwards: {doc['alive_after']}")


if __name__ == "__main__":
    sys.exit(main())

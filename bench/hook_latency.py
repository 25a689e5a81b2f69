#!/usr/bin/env python3
"""How long the agentfeed capture hook makes Claude Code wait per event.

Runs ``python -S src/agentfeed/hook.py`` N times as a subprocess (the way Claude Code runs it,
one process per event) with a typical PostToolUse payload on stdin, and reports the wall time of
each run, from spawn to exit, as p50/p95/max:

* ``up``: a local ``http.server`` (in this process, on 127.0.0.1) answers 200 at once;
* ``down``: nothing listens on the port, so every event is refused and spooled (the spool grows
  over the run, and each run also tries to replay it once, as in real use);
* ``python -S -c pass`` and ``python -c pass``: interpreter start-up alone, for comparison;
* ``up via sh -c``: the registered command run through ``sh -c``, as Claude Code does.

The target is p95 < 50 ms, up and down.

    .venv/bin/python bench/hook_latency.py [--runs 200] [--python PATH] [--json]

``--python`` picks the interpreter the hook runs under (default: this one). Everything happens in
a temporary folder that is removed at the end; the hook's home is there too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOOK = Path(__file__).resolve().parents[1] / "src" / "agentfeed" / "hook.py"

PAYLOAD = {
    "session_id": "8f0c2a9e-6a8e-4c1b-9a53-2f3c5d9e0b11",
    "transcript_path": "/home/u/.claude/projects/-home-u-app/8f0c2a9e-6a8e-4c1b-9a53.jsonl",
    "cwd": "/home/u/app",
    "permission_mode": "default",
    "hook_event_name": "PostToolUse",
    "prompt_id": "550e8400-e29b-41d4-a716-446655440000",
    "tool_name": "Bash",
    "tool_input": {
        "command": "pytest -q tests/test_uploader.py",
        "description": "Run the uploader tests",
        "timeout": 120000,
        "run_in_background": False,
    },
    "tool_response": {
        "stdout": "........................................ [100%]\n40 passed in 1.92s\n" * 20,
        "stderr": "",
        "interrupted": False,
        "isImage": False,
    },
    "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
    "duration_ms": 2140,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).count += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(cmd: Sequence[str], env: dict[str, str], runs: int, data: bytes) -> list[float]:
    """Wall time (ms) of ``runs`` runs of ``cmd``, after 5 warm-up runs."""
    times = []
    for i in range(runs + 5):
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        elapsed = (time.perf_counter() - start) * 1000
        if proc.returncode != 0 or proc.stdout:
            raise SystemExit(f"{cmd}: exit {proc.returncode}, stdout {proc.stdout[:80]!r}")
        if i >= 5:
            times.append(elapsed)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", action="store_true", help="print a JSON document as well")
    args = parser.parse_args()

    data = json.dumps(PAYLOAD).encode()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="agentfeed-bench-") as tmp:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFEED_")}
        hook_cmd = [args.python, "-S", str(HOOK)]

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}"
            up_env = dict(base_env, AGENTFEED_HOME=f"{tmp}/up", AGENTFEED_URL=url)
            print(f"server up ({url}): {args.runs} runs ...", file=sys.stderr)
            results["hook, server up"] = summary(measure(hook_cmd, up_env, args.runs, data))
            if _Handler.count != args.runs + 5:
                raise SystemExit(f"server got {_Handler.count} events, expected {args.runs + 5}")
            print("server up, via sh -c ...", file=sys.stderr)
            shell_cmd = ["sh", "-c", " ".join(shlex.quote(part) for part in hook_cmd)]
            results["hook, server up, via sh -c"] = summary(
                measure(shell_cmd, up_env, args.runs, data)
            )
        finally:
            httpd.shutdown()
            httpd.server_close()

        down_env = dict(
            base_env, AGENTFEED_HOME=f"{tmp}/down", AGENTFEED_URL=f"http://127.0.0.1:{free_port()}"
        )
        print(f"server down: {args.runs} runs ...", file=sys.stderr)
        results["hook, server down (spooling)"] = summary(
            measure(hook_cmd, down_env, args.runs, data)
        )
        spooled = len(Path(f"{tmp}/down/spool.jsonl").read_bytes().splitlines())
        if spooled != args.runs + 5:
            raise SystemExit(f"spool has {spooled} lines, expected {args.runs + 5}")

        print("interpreter start-up ...", file=sys.stderr)
        results["python -S -c pass"] = summary(
            measure([args.python, "-S", "-c", "pass"], base_env, args.runs, b"")
        )
        results["python -c pass"] = summary(
            measure([args.python, "-c", "pass"], base_env, args.runs, b"")
        )

    info = {
        "python": args.python,
        "version": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "runs": args.runs,
        "payload_bytes": len(data),
    }
    print(
        f"{info['machine']}, Python {info['version']} ({args.python}), load {info['loadavg']}, "
        f"{args.runs} runs each, payload {len(data)} bytes"
    )
    print(f"{'':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, row in results.items():
        print(f"{name:34} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} {row['max_ms']:8.1f}")
    if args.json:
        print(json.dumps({"info": info, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

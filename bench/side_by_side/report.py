"""Medians over rounds, ratios against the issue's targets, the printed table, JSON and plots."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    """One line of the table: a workload's metric, and the target it is held to."""

    workload: str
    label: str
    metric: str  # key in each round's result dict
    unit: str
    higher_is_better: bool = False
    target: str = ""
    met: Callable[[float, float], bool] | None = None  # (livebase, other or versus) -> met?
    versus: str = ""  # hold Livebase to this workload's Livebase median instead of the other side


def median_of(rounds: list[dict[str, Any]], metric: str) -> float | None:
    values = [r[metric] for r in rounds if isinstance(r.get(metric), int | float)]
    return round(statistics.median(values), 4) if values else None


def medians(
    runs: dict[str, dict[str, list[dict[str, Any]]]], rows: list[Row]
) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        sides = runs.get(row.workload)
        if not sides:
            continue
        lb = median_of(sides.get("livebase", []), row.metric)
        other = median_of(sides.get("other", []), row.metric)
        ratio = round(lb / other, 3) if lb is not None and other else None
        ref = (
            median_of(runs.get(row.versus, {}).get("livebase", []), row.metric)
            if row.versus
            else other
        )
        met = row.met(lb, ref) if row.met and lb is not None and ref is not None else None
        out.append({"workload": row.workload, "label": row.label, "metric": row.metric,
                    "unit": row.unit, "livebase": lb, "other": other, "ratio": ratio,
                    "target": row.target, "met": met,
                    "rounds": len(sides.get("livebase", []))})  # fmt: skip
    return out


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def table(summary: list[dict[str, Any]]) -> str:
    head = ("workload", "metric", "Livebase", "PocketBase*", "ratio", "target", "met")
    lines = [head]
    for s in summary:
        met = "" if s["met"] is None else ("yes" if s["met"] else "NO")
        lines.append((s["label"], f"{s['metric']} ({s['unit']})", fmt(s["livebase"]),
                      fmt(s["other"]), fmt(s["ratio"]), s["target"], met))  # fmt: skip
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.append(
        "* PocketBase column: pgbench -N tx/s on the PostgreSQL rows; ratio = Livebase / it."
    )
    return "\n".join(text)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def plots(summary: list[dict[str, Any]], out: Path, prefix: str) -> list[Path]:
    """Two grouped bar charts: p50 latencies (log scale) and write rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    groups = [
        ("latency", [s for s in summary if s["metric"] == "p50_ms"], "p50 latency, ms (log)",
         "PocketBase (W1: HTTP record create)", True),
        ("throughput", [s for s in summary if s["metric"] == "mutations_per_s"],
         "writes/s", "PocketBase; pgbench -N tx/s on PG rows", False),
    ]  # fmt: skip
    for name, rows, ylabel, other_label, log in groups:
        rows = [r for r in rows if r["livebase"] is not None or r["other"] is not None]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 2), 4.2), dpi=120)
        xs = range(len(rows))
        lb = [r["livebase"] or 0 for r in rows]
        other = [r["other"] or 0 for r in rows]
        ax.bar([x - 0.2 for x in xs], lb, 0.4, label="Livebase", color="#2b6cb0")
        ax.bar([x + 0.2 for x in xs], other, 0.4, label=other_label, color="#dd6b20")
        for x, a, b in zip(xs, lb, other, strict=True):
            ax.annotate(fmt(a), (x - 0.2, a), ha="center", va="bottom", fontsize=7)
            ax.annotate(fmt(b), (x + 0.2, b), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(list(xs), [r["label"] for r in rows], rotation=25, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.margins(y=0.1)
        # Above the plot, not in it: a bar of any height can sit under it without its figure
        # being hidden.
        ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        n = rows[0]["rounds"]
        ax.set_title(
            f"Livebase vs PocketBase: {name} (median of {n} round{'s' * (n != 1)})", pad=20
        )
        fig.tight_layout()
        path = out / f"{prefix}{name}.png"
        fig.savefig(path)
        plt.close(fig)
        made.append(path)
    return made

"""Tool calls measured per tool: how many, how many failed (and how), how long they took — the figures TRL logs as
tool failure frequency and verl as per-call metrics, written by ``eval`` (summary.json), RL steps, OpenRLHF's extra
logs and the trajectory viewer from the same records."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable

UNPARSED = "?"  # calls that did not parse name no tool


def call_records(trajectory) -> list[dict]:
    """One ``{"tool", "error_kind", "latency_ms"}`` per call of a trajectory, in order (``error_kind`` None when the
    call succeeded; ``latency_ms`` None when it never ran: unparsable or rejected)."""
    return [
        {
            "tool": o.tool or UNPARSED,
            "error_kind": o.error_kind if o.error is not None else None,
            "latency_ms": o.latency_ms,
        }  # fmt: skip
        for o in trajectory.observations
    ]


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q ≤ 100) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def tool_stats(calls: Iterable[dict]) -> dict[str, dict]:
    """Per tool: ``calls``, ``errors``, ``error_rate``, ``errors_by_kind``, ``latency_ms_p50`` / ``_p95`` / ``_mean``
    over the calls that ran."""
    by_tool: dict[str, list[dict]] = defaultdict(list)
    for call in calls:
        by_tool[call["tool"]].append(call)
    out = {}
    for name in sorted(by_tool):
        some = by_tool[name]
        kinds: dict[str, int] = defaultdict(int)
        for call in some:
            if call["error_kind"] is not None:
                kinds[call["error_kind"]] += 1
        errors = sum(kinds.values())
        stats = {"calls": len(some), "errors": errors, "error_rate": errors / len(some), "errors_by_kind": dict(kinds)}
        latencies = [c["latency_ms"] for c in some if c.get("latency_ms") is not None]
        if latencies:
            stats.update(
                latency_ms_p50=percentile(latencies, 50),
                latency_ms_p95=percentile(latencies, 95),
                latency_ms_mean=statistics.fmean(latencies),
            )
        out[name] = stats
    return out


def step_tool_metrics(calls: Iterable[dict], episodes: int) -> dict[str, float]:
    """Flat scalars for a training step's log: ``tool_calls/<name>`` (per episode), ``tool_errors/<name>`` (the share
    of its calls that failed), ``tool_latency_ms/<name>`` (median) and ``tool_latency_p95_ms/<name>``."""
    out: dict[str, float] = {}
    for name, stats in tool_stats(calls).items():
        out[f"tool_calls/{name}"] = stats["calls"] / max(1, episodes)
        out[f"tool_errors/{name}"] = stats["error_rate"]
        if "latency_ms_p50" in stats:
            out[f"tool_latency_ms/{name}"] = stats["latency_ms_p50"]
            out[f"tool_latency_p95_ms/{name}"] = stats["latency_ms_p95"]
    return out

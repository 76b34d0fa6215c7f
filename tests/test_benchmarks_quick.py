"""Benchmarks whose figures are published run here in their quick mode (seconds, tiny sizes): a change that breaks a
published figure's command fails CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_tool_concurrency_quick():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "tool_concurrency.py"), "--quick"], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["kind"] for r in rows} == {"sync", "async", "langchain", "mcp"} and all(r["episodes"] == 8 for r in rows)
    assert all(r["wall_s"] < r["serial_s"] for r in rows)  # 8 waits of 0.2 s overlapped, not queued

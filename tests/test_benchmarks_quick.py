"""Benchmarks whose figures are published run here in their quick mode (seconds, tiny sizes): a change that breaks a
published figure's command fails CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_tool_concurrency_quick():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "tool_concurrency.py"), "--quick"], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["kind"] for r in rows} == {"sync", "async", "langchain", "mcp"} and all(r["episodes"] == 8 for r in rows)
    assert all(r["wall_s"] < r["serial_s"] for r in rows)  # 8 waits of 0.2 s overlapped, not queued


QUICK = {  # script → its quick arguments ({out}: a folder of the test's)
    "embedded_model_report.py": ["--quick", "--out", "{out}"],
    "graph_overhead.py": ["--quick", "--out", "{out}"],
    "load_test.py": ["--quick"],
    "memory_budget.py": [],
    "post_crop_reply.py": ["--quick"],
    "real_size.py": ["--quick", "--out", "{out}", "--threads", "2"],
    "rl_emergence.py": ["--quick", "--out", "{out}"],
    "rollout_throughput.py": ["--quick"],
    "vs_trl.py": ["--quick", "--out", "{out}"],
    "wire.py": ["--quick"],
}
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name not in ("published_configs.py",))


def test_every_benchmark_has_a_quick_run_here():
    covered = {"tool_concurrency.py", "gpu.py", "openrlhf_gpu_report.py"}  # tested in their own modules
    assert set(SCRIPTS) == set(QUICK) | covered


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(QUICK))
def test_the_benchmark_runs_quick(script, tmp_path):
    args = [a.replace("{out}", str(tmp_path / "out")) for a in QUICK[script]]
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=900, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.strip(), "a benchmark prints its figures"

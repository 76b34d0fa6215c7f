"""``benchmarks/gpu.py`` runs end to end on the CPU with the tiny model (``--device cpu --quick``): every phase runs
in its own process and prints its JSON line with its peaks; the GRPO phases train (half the episodes right: every
step has something to learn); the sync phase sees the engine's logprobs move; a budget skips what would not fit."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_benchmark_runs_quick_on_the_cpu(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick", "--out", str(tmp_path),
         "--threads", "1", "--reasoning-words", "40", "--decode-tokens", "40", "--in-process"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    phases = {r["phase"]: r for r in map(json.loads, (tmp_path / "gpu.jsonl").read_text().splitlines())}
    assert list(phases) == [
        "build", "ask_1mp", "batched_n1", "batched_n4", "decode", "grpo_lora_tiny", "lora_sync",
        "grpo_full_tiny", "grpo_full_tiny_16", "load_tiny", "ask_8k",
    ]  # fmt: skip
    assert all("host_peak_gib" in r for r in phases.values())
    assert phases["lora_sync"]["synced"] and phases["lora_sync"]["engine_vs_trained"] < 1e-3
    assert phases["load_tiny"]["parameters"] > 0 and phases["load_tiny"]["host_over_weights"] >= 0
    assert phases["ask_8k"]["image"] == "7680x4320" and phases["ask_8k"]["image_tokens"] > 0
    assert phases["batched_n4"]["ratio"] > 0 and phases["decode"]["ms_per_token"] > 0
    for name in ("grpo_lora_tiny", "grpo_full_tiny", "grpo_full_tiny_16"):
        assert phases[name]["trained_tokens"] > 0 and phases[name]["weights_moved"] > 0.9, phases[name]
    assert phases["grpo_lora_tiny"]["trained_parameters"] < phases["grpo_full_tiny"]["trained_parameters"] / 10


def test_a_budget_skips_the_phases_that_would_not_finish(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick", "--out", str(tmp_path),
         "--budget-s", "1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    skipped = [json.loads(line) for line in out.stdout.splitlines()]
    assert skipped and all("budget" in r["skipped"] for r in skipped)


def test_the_memory_budget_in_the_docs_is_the_scripts():
    table = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory_budget.py")], capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    assert table in (ROOT / "docs" / "gpu.md").read_text()
    assert "| 7B (8.29 B), LoRA r=64 |" in table and "| no |" in table  # the 7B's full fine-tune does not fit


def test_each_phase_runs_in_a_process_of_its_own(tmp_path):
    """What a GPU run does: the script starts every phase as a process of its own (here one, the rest skipped)."""
    phases = ["ask_1mp", "batched", "grpo_lora_7b", "lora_sync", "grpo_full_3b", "grpo_full_3b_16", "load_7b", "ask_8k"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick", "--out", str(tmp_path),
         "--threads", "1", "--decode-tokens", "24", "--skip", *phases],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in (tmp_path / "gpu.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in lines] == ["decode"] and lines[0]["host_peak_gib"] > 0

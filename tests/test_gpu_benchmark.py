"""``benchmarks/gpu.py`` runs end to end on the CPU with the tiny model (``--device cpu --quick``): every phase
prints its JSON line, and the GRPO phases train (half the episodes right: every step has something to learn)."""

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
         "--threads", "1", "--reasoning-words", "40", "--decode-tokens", "40"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    phases = {r["phase"]: r for r in map(json.loads, (tmp_path / "gpu.jsonl").read_text().splitlines())}
    assert list(phases) == [
        "build", "ask_1mp", "ask_8k", "batched_n1", "batched_n4", "decode",
        "grpo_lora_tiny", "grpo_full_tiny", "grpo_full_tiny_16",
    ]  # fmt: skip
    assert phases["ask_8k"]["image"] == "7680x4320" and phases["ask_8k"]["image_tokens"] > 0
    assert phases["batched_n4"]["ratio"] > 0 and phases["decode"]["ms_per_token"] > 0
    for name in ("grpo_lora_tiny", "grpo_full_tiny", "grpo_full_tiny_16"):
        assert phases[name]["trained_tokens"] > 0 and phases[name]["weights_moved"] > 0.9, phases[name]
    assert phases["grpo_lora_tiny"]["trained_parameters"] < phases["grpo_full_tiny"]["trained_parameters"] / 10

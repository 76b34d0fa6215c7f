"""The report of ``benchmarks/openrlhf_gpu.sh``: OpenRLHF's per-step log lines (``Global step N: {...}``, with
``timing/step_total`` and its phases) and the weight fingerprints the engine's executor wrote
(``DEEPEYES_OPENRLHF_WEIGHTS_LOG``, see :mod:`deepeyes_agent.rl.openrlhf.weights`) → one JSON object on stdout.

``ok`` is false (exit 1) when fewer steps ran than asked or the engine held one version of the weights all run long:
with 2 steps the second step's rollouts must run on the weights the first step's sync sent.

    python benchmarks/openrlhf_gpu_report.py --log runs/openrlhf_gpu/train.log \
        --weights runs/openrlhf_gpu/engine_weights.jsonl --steps 2
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from deepeyes_agent.rl.openrlhf.weights import weight_versions

STEP_LINE = re.compile(r"Global step (\d+): (\{.*\})")
TIMING = re.compile(r"'timing/(\w+)': ([-+0-9.eE]+)")


def step_timings(log: str) -> list[dict]:
    """``{"step", "<phase>_s", ...}`` per logged step (generation, make_experience, ppo_train, broadcast,
    step_total)."""
    steps = {}
    for line in log.splitlines():
        if match := STEP_LINE.search(line):
            timings = {f"{name}_s": round(float(value), 2) for name, value in TIMING.findall(match.group(2))}
            steps[int(match.group(1))] = {"step": int(match.group(1)), **timings}
    return [steps[k] for k in sorted(steps)]


def report(log: str, weight_lines: list[str], steps: int) -> dict:
    timings, versions = step_timings(log), weight_versions(weight_lines)
    problems = []
    if len(timings) < steps:
        problems.append(f"{len(timings)} of {steps} steps logged")
    if not versions:
        problems.append("no engine weight fingerprints (DEEPEYES_OPENRLHF_WEIGHTS_LOG not reaching the workers?)")
    elif len(versions) < steps:
        problems.append(
            f"the engine held {len(versions)} version(s) of the weights over {steps} steps: a weight sync did not land"
        )
    return {
        "ok": not problems,
        "problems": problems,
        "steps": timings,
        "engine_weights": [{k: v[k] for k in ("sum", "numel", "dtype", "episodes")} for v in versions],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, required=True, help="train_ppo_ray's output")
    parser.add_argument("--weights", type=Path, required=True, help="the engine's weight fingerprints (JSONL)")
    parser.add_argument("--steps", type=int, default=2, help="steps the run was asked for")
    args = parser.parse_args(argv)
    weights = args.weights.read_text().splitlines() if args.weights.exists() else []
    result = report(args.log.read_text(errors="replace"), weights, args.steps)
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Install deepeyes-agent into the active virtual environment on a CPU machine (what CI runs):
# the CPU torch wheel first (a bare `torch` resolves to a CUDA build), the package with its dev
# extra, then OpenRLHF's real classes for the scale-out tests — openrlhf --no-deps, because its hard
# deps (flash-attn, a pinned transformers) cannot be met on CPU; its light imports come from
# requirements/openrlhf-cpu.txt. On a GPU cluster install `pip install -e ".[openrlhf]"` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q torch==2.13.0
pip install -q -e ".[dev]"
pip install -q --no-deps openrlhf==0.11.2
pip install -q -r requirements/openrlhf-cpu.txt 2>&1 | grep -v "^openrlhf 0.11.2 requires\|dependency resolver" || true

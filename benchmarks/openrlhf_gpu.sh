#!/usr/bin/env bash
# OpenRLHF's real train_ppo_ray on ONE GPU, colocated (its vLLM engine and the DeepSpeed actor share the GPU, with
# sleep mode between phases), 2 steps of this library's agent on zoom-world rows. Reports each step's time and the
# weights the vLLM engine held during each step's rollouts: they must change after the first weight sync (the
# NCCL / CUDA-IPC path can no-op silently, and the run would go on rolling out the first weights).
#
#   bash benchmarks/openrlhf_gpu.sh                          # the shipped embedded model: a few minutes
#   MODEL=/models/Qwen2.5-VL-3B-Instruct bash benchmarks/openrlhf_gpu.sh   # a local 3B folder (nothing is downloaded)
#   DRY_RUN=1 bash benchmarks/openrlhf_gpu.sh                # write the rows and settings, print the command only
#
# Needs a GPU machine with the package installed with OpenRLHF (pip install -e ".[openrlhf]": vLLM, DeepSpeed,
# flash-attn). Writes OUT (default runs/openrlhf_gpu): train.log, engine_weights.jsonl, report.json; exits 1 when
# fewer steps ran than asked or the engine's weights never changed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/openrlhf_gpu}
MODEL=${MODEL:-}
PROMPTS=${PROMPTS:-4}          # prompts per step
ROLLOUTS=${ROLLOUTS:-4}        # rollouts per prompt (the GRPO group)
STEPS=2
LR=${LR:-1e-5}                 # large enough that bf16 weights move in one step (1e-6 barely does)
export HF_HUB_OFFLINE=1

mkdir -p "$OUT"
rm -f "$OUT/engine_weights.jsonl"
# every row needs a zoom; exactly STEPS steps of PROMPTS prompts (train_ppo_ray runs one pass over the rows)
deepeyes-agent zoomworld "$OUT/data" --n $((STEPS * PROMPTS)) --seed 0 --attribute-share 1.0
# the executor on the engine's Ray worker appends the engine's weight fingerprint at each episode's start
export DEEPEYES_OPENRLHF_WEIGHTS_LOG="$PWD/$OUT/engine_weights.jsonl"
args=(openrlhf train --launcher direct --data "$OUT/data/zoomworld.jsonl" --out "$OUT/run"
      --gpus-per-node 1 --prompts-per-step "$PROMPTS" --rollouts-per-prompt "$ROLLOUTS" --lr "$LR"
      --max-turns 3 --max-new-tokens 256 --max-length 8192)
if [ -n "$MODEL" ]; then args+=(--model "$MODEL"); fi
if [ -n "${DRY_RUN:-}" ]; then
  deepeyes-agent "${args[@]}" --dry-run
  exit 0
fi
start=$(date +%s)
deepeyes-agent "${args[@]}" 2>&1 | tee "$OUT/train.log"
echo "wall: $(( $(date +%s) - start )) s (Ray, engine and actor start-up included)"
python benchmarks/openrlhf_gpu_report.py --log "$OUT/train.log" --weights "$OUT/engine_weights.jsonl" \
  --steps "$STEPS" | tee "$OUT/report.json"

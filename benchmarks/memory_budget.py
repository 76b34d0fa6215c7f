"""The GPU memory budget of each published configuration on one 80 GB GPU, computed from the configurations (the
parameter counts of Qwen2.5-VL-3B/7B built on the meta device: nothing is allocated) and from what the library keeps:

- weights: the base in bfloat16 (full fine-tuning: float32 master weights — ``precision mixed``);
- trained state: per trained parameter its float32 gradient and AdamW's two float32 moments (LoRA: the adapters'
  float32 weights too, 16 bytes a parameter; full fine-tuning: gradient + moments, 12 bytes beyond the masters);
- reference: the KL reference in the compute dtype (only with ``grpo.kl_coef`` > 0; LoRA's is the base itself);
- engine: a colocated vLLM engine's share (``gpu_memory_utilization`` × the GPU) while it rolls out — asleep during
  the update, where it holds nothing;
- merge: what saving a LoRA checkpoint adds on the GPU, a layer at a time (the largest adapted layer's float32 delta
  and its merged copy) — the whole-model merge it replaces held every delta and a merged copy of the model.

Activations are not counted (they depend on the sequence; gradient checkpointing keeps them to a few GiB at 2
episodes of 1.7k tokens). Run it to print the table docs/gpu.md carries (the tests check that it does):

    python benchmarks/memory_budget.py [--gpu-gib 79.2] [--engine-share 0.5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from published_configs import CONFIGS  # noqa: E402

GIB = 1024**3
LANGUAGE_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def counts(name: str, lora_rank: int) -> dict:
    """Parameters of the published configuration ``name``: all, LoRA's on the language model's linear layers, the
    largest such layer's weight."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    config = Qwen2_5_VLConfig(**{k: v for k, v in CONFIGS[name].items() if k != "architectures"})
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(config)
    total = sum(p.numel() for p in model.parameters())
    adapters, largest, adapted = 0, 0, 0
    for module_name, module in model.named_modules():
        if "language_model" in module_name and module_name.rsplit(".", 1)[-1] in LANGUAGE_LINEAR:
            out_features, in_features = module.weight.shape
            adapters += lora_rank * (in_features + out_features)
            largest = max(largest, module.weight.numel())
            adapted += module.weight.numel()
    return {"total": total, "adapters": adapters, "largest_layer": largest, "adapted": adapted}


def budget(gpu_gib: float, engine_share: float, lora_rank: int = 64) -> list[dict]:
    rows = []
    for name in ("7b", "3b"):
        c = counts(name, lora_rank)
        engine = engine_share * gpu_gib
        for setup in ("lora", "full"):
            if setup == "lora":
                weights = c["total"] * 2 / GIB  # bfloat16 base, frozen
                trained = c["adapters"] * 16 / GIB  # fp32 weights + gradients + AdamW's two moments
                reference = 0.0  # the base itself, adapters off
                merge = c["largest_layer"] * (4 + 2) / GIB  # one layer: its fp32 delta and the merged bf16 weight
                old_merge = (c["adapted"] * 2 + c["total"] * 2) / GIB  # every bf16 delta + a merged copy of the model
            else:
                weights = c["total"] * 4 / GIB  # float32 master weights
                trained = c["total"] * 12 / GIB  # fp32 gradients + AdamW's two moments
                reference = c["total"] * 2 / GIB  # the KL reference in bfloat16 (kl_coef > 0 only)
                merge = old_merge = 0.0
            update = weights + trained + reference + merge
            rollout = weights + (c["adapters"] * 4 / GIB if setup == "lora" else 0) + reference + engine
            rows.append(
                {
                    "model": name.upper(),
                    "setup": f"LoRA r={lora_rank}" if setup == "lora" else "full fine-tune",
                    "params_b": c["total"] / 1e9,
                    "weights": weights,
                    "trained": trained,
                    "reference": reference,
                    "engine": engine,
                    "merge": merge,
                    "old_merge": old_merge,
                    "update": update,
                    "rollout": rollout,
                    "fits": max(update, rollout) <= gpu_gib,
                }
            )
    return rows


def table(gpu_gib: float = 79.2, engine_share: float = 0.5) -> str:
    lines = [
        f"| model, setup | weights | trained state | KL reference | colocated vLLM ({engine_share:g} × {gpu_gib:g}) | "
        "LoRA save (was) | at the update | at the rollouts | fits |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in budget(gpu_gib, engine_share):
        save = f"{r['merge']:.2f} ({r['old_merge']:.1f})" if r["merge"] else "—"
        lines.append(
            f"| {r['model']} ({r['params_b']:.2f} B), {r['setup']} | {r['weights']:.1f} | {r['trained']:.1f} | "
            f"{r['reference']:.1f} | {r['engine']:.1f} | {save} | {r['update']:.1f} | {r['rollout']:.1f} | "
            f"{'yes' if r['fits'] else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu-gib", type=float, default=79.2, help="the GPU's memory (an H100 80GB: 79.2 GiB)")
    parser.add_argument("--engine-share", type=float, default=0.5, help="the colocated engine's gpu_memory_utilization")
    args = parser.parse_args()
    print(table(args.gpu_gib, args.engine_share))


if __name__ == "__main__":
    main()

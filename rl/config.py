"""Configuration of an RL run (pydantic; loadable from YAML), grouped by concern: the run, its precision, the GRPO
loss, LoRA (light: no torch, so the command line's --help stays fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from deepeyes_agent.configs import JudgedRunConfig
from deepeyes_agent.device import Precision
from deepeyes_agent.serving import VLLMEngineConfig
from deepeyes_agent.tools.settings import ToolSettings
from deepeyes_agent.tracking import TrackingSettings

from .reward import RewardConfig

LANGUAGE_MODEL_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class GRPOConfig(BaseModel):
    """The GRPO loss."""

    clip_low: float = Field(0.2, description="PPO clip below 1 (DeepEyes: 0.2)")
    clip_high: float = Field(0.2, description="PPO clip above 1 (DeepEyes: 0.2)")
    dual_clip: float = Field(3.0, description="bound on the loss of negative-advantage tokens; ≤ 1 disables")
    kl_coef: float = Field(0.0, description="KL to a frozen reference (DeepEyes: 0, no reference model)")
    eps: float = Field(1e-6, description="added to the group's reward std")
    old_logprobs: Literal["recompute", "rollout"] = Field(
        "recompute",
        description="the ratio's denominator — recompute: the policy's own logprobs in the training forward, as "
        "verl's compute_log_prob (one update per step: ratio 1, and the step does not depend on the backend's "
        "batch numerics) · rollout: the logprobs the backend sampled with",
    )


class LoraSettings(BaseModel):
    """LoRA adapters on the language model, as settings (the command line's ``--lora-*``, YAML's ``lora:``); in Python
    a ``peft.LoraConfig`` works too (``LocalTrainer(cfg, peft_config=LoraConfig(...))``, as TRL takes it). Rank 0
    trains every weight."""

    rank: int = Field(0, ge=0, description="adapter rank; 0: no adapters, every weight is trained (full fine-tune)")
    alpha: float | None = Field(None, gt=0, description="the adapters' scale is alpha / rank (default alpha: 2 × rank)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the adapters' input")
    target_modules: list[str] = Field(
        default_factory=lambda: list(LANGUAGE_MODEL_LAYERS),
        description="the language model's linear layers that get adapters (the vision tower's are left alone)",
    )

    @property
    def enabled(self) -> bool:
        return self.rank > 0

    def peft_config(self):
        """peft's own ``LoraConfig`` of these settings (the target modules as a pattern on the language model)."""
        from peft import LoraConfig

        names = "|".join(map(str, self.target_modules))
        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha or 2 * self.rank,
            lora_dropout=self.dropout,
            target_modules=rf".*language_model\..*\.({names})",
            bias="none",
        )


class TrainConfig(JudgedRunConfig, ToolSettings, TrackingSettings):
    """An RL run: GRPO on trajectories of the agent graph with the DeepEyes reward."""

    # data and model
    data: Path = Field(
        description="training rows: zoom-world / V*-style JSONL, or a DeepEyes-47k parquet as distributed"
    )
    out: Path = Field(description="run folder: metrics.jsonl, checkpoint/, curves.png")
    model: str | Path | None = Field(
        None,
        description="a local model folder, a hub id (org/name), or 'base' (the embedded model before RL); default: the "
        "embedded model",
    )
    revision: str | None = Field(None, description="the hub model's branch, tag or commit (default: main)")
    eval_data: Path | None = Field(None, description="held-out rows for accuracy / tool-use curves")
    eval_every: int = Field(10, ge=1, description="steps between held-out evaluations (greedy)")
    eval_limit: int | None = Field(64, description="held-out rows per evaluation (None: all)")
    # rollouts (the agent graph)
    steps: int = Field(20, ge=1, description="optimizer steps (one update per step, as DeepEyes)")
    prompts_per_step: int = Field(4, ge=1, description="prompts per step (DeepEyes: 256)")
    rollouts_per_prompt: int = Field(8, ge=2, description="GRPO group size (DeepEyes: 16)")
    temperature: float = Field(1.0, ge=0.0, description="rollout sampling temperature (DeepEyes: 1.0)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="rollout nucleus sampling")
    max_turns: int = Field(5, ge=1, description="model turns per episode (DeepEyes: 5)")
    max_new_tokens: int = Field(256, ge=1, description="tokens per model turn")
    max_length: int = Field(32768, description="training sequence cap (prompt + turns + observations)")
    rollout_backend: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="transformers: roll out on the trained model itself; vllm: an in-process vLLM "
        "engine that receives the new weights after every step",
    )
    concurrency: int | None = Field(
        None, ge=1, description="episodes in flight during rollouts (default: all of a step)"
    )
    vllm: VLLMEngineConfig = Field(
        default_factory=lambda: VLLMEngineConfig(gpu_memory_utilization=0.5),
        description="the rollout engine: rollout_backend vllm here (on the trainer's GPU, asleep during the update), "
        "and OpenRLHF's engines",
    )
    # optimisation
    lr: float = Field(1e-6, description="DeepEyes: 1e-6 for 7B; small models want more")
    weight_decay: float = Field(0.01, description="AdamW weight decay (DeepEyes: 0.01)")
    grad_clip: float = Field(1.0, description="gradient-norm clip (DeepEyes: 1.0)")
    micro_batch: int = Field(8, ge=1, description="trajectories per forward/backward")
    precision: Precision = Field(
        Precision.MIXED,
        description="mixed: trained weights in float32, forward/backward in dtype (autocast) · pure: the weights "
        "in dtype, no float32 copy (bfloat16 at lr 1e-6 barely moves them: see weights_moved)",
    )
    gradient_checkpointing: bool | None = Field(
        None,
        description="recompute activations in the backward pass (default: on for models of 100M+ parameters)",
    )
    optimizer: Literal["adamw", "adamw_8bit"] = Field(
        "adamw", description="adamw (torch) · adamw_8bit: bitsandbytes' 8-bit moments (CUDA), a quarter of the memory"
    )
    lora: LoraSettings = Field(default_factory=LoraSettings)
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    # reward
    reward: RewardConfig = Field(default_factory=RewardConfig)
    # bookkeeping
    save_every: int = Field(10, ge=1, description="steps between checkpoints")
    seed: int = Field(0, description="seeds prompt order, option shuffles and sampling")
    threads: int = Field(2, ge=1, description="torch threads")

"""Configuration of an RL run (pydantic; loadable from YAML), grouped by concern."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from deepeyes_agent.configs import JudgedRunConfig
from deepeyes_agent.serving import VLLMEngineConfig
from deepeyes_agent.tools.settings import ToolSettings

from .grpo import GRPOConfig
from .lora import LoraConfig
from .precision import Precision
from .reward import RewardConfig


class TrainConfig(JudgedRunConfig, ToolSettings):
    """An RL run: GRPO on trajectories of the agent graph with the DeepEyes reward."""

    # data and model
    data: Path = Field(
        description="training rows: zoom-world / V*-style JSONL, or a DeepEyes-47k parquet as distributed"
    )
    out: Path = Field(description="run folder: metrics.jsonl, checkpoint/, curves.png")
    model: str | Path | None = Field(
        None, description="local model folder, or 'base' (the embedded model before RL); default: the embedded model"
    )
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
    lora: LoraConfig = Field(default_factory=LoraConfig)
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    # reward
    reward: RewardConfig = Field(default_factory=RewardConfig)
    # bookkeeping
    save_every: int = Field(10, ge=1, description="steps between checkpoints")
    seed: int = Field(0, description="seeds prompt order, option shuffles and sampling")
    threads: int = Field(2, ge=1, description="torch threads")

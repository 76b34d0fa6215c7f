"""Configuration of an RL run (pydantic; loadable from YAML), grouped by concern."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from .grpo import GRPOConfig
from .reward import RewardConfig


class TrainConfig(BaseModel):
    # data and model
    data: Path = Field(description="training rows (zoom-world / V*-style JSONL)")
    out: Path
    model: Path | None = Field(None, description="local model folder; default: the embedded model")
    eval_data: Path | None = Field(None, description="held-out rows for accuracy / tool-use curves")
    eval_every: int = 10
    eval_limit: int | None = 64
    # rollouts (the agent graph)
    steps: int = 20
    prompts_per_step: int = 4
    rollouts_per_prompt: int = Field(8, ge=2, description="GRPO group size (DeepEyes: 16)")
    temperature: float = 1.0
    top_p: float = 1.0
    max_turns: int = 5
    max_new_tokens: int = 256
    max_length: int = Field(32768, description="training sequence cap (prompt + turns + observations)")
    rollout_backend: Literal["transformers", "vllm"] = Field(
        "transformers", description="transformers: roll out on the trained model itself; vllm: an in-process vLLM "
        "engine that receives the new weights after every step")
    concurrency: int | None = Field(None, ge=1, description="episodes in flight during rollouts (default: all of a step)")
    # optimisation
    lr: float = Field(1e-6, description="DeepEyes: 1e-6 for 7B; small models want more")
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    micro_batch: int = Field(8, ge=1, description="trajectories per forward/backward")
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    # reward
    reward: RewardConfig = Field(default_factory=RewardConfig)
    judge: Literal["option", "exact", "llm"] = "option"
    judge_url: str | None = None
    judge_model: str = "judge"
    # bookkeeping
    save_every: int = 10
    seed: int = 0
    threads: int = 2

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "TrainConfig":
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})

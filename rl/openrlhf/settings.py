"""What the OpenRLHF agent needs besides what OpenRLHF passes: agent bounds, reward, judge.

OpenRLHF constructs the executor with no arguments, so these travel as a JSON/YAML file whose path
is in the environment variable ``DEEPEYES_OPENRLHF_SETTINGS``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from deepeyes_agent.graphs.state import AgentConfig
from deepeyes_agent.judges import Judge, make_judge

from ..reward import RewardConfig
from . import ENV_VAR


class AgentSettings(BaseModel):
    agent: AgentConfig = Field(
        default_factory=AgentConfig,
        description="turns, zoom frame, system prompt; "
        "the context budget and per-turn sampling come from OpenRLHF at run time",
    )
    reward: RewardConfig = Field(default_factory=RewardConfig)
    judge: Literal["option", "exact", "llm"] = "option"
    judge_url: str | None = None
    judge_model: str = "judge"
    trajectories: bool = Field(
        False,
        description="return each episode's Trajectory in the rollout dict, its images flushed to the image store "
        "(`openrlhf rollout` writes them for the viewer); off in training, where every dict crosses Ray each step",
    )

    def make_judge(self) -> Judge:
        return make_judge(self.judge, self.judge_url, self.judge_model)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1))
        return path

    @classmethod
    def read(cls, path: str | Path) -> AgentSettings:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise FileNotFoundError(f"{ENV_VAR}={path}: cannot read the agent settings ({exc})") from exc
        return cls.model_validate(data)

    @classmethod
    def from_env(cls) -> AgentSettings:
        path = os.environ.get(ENV_VAR)
        return cls.read(path) if path else cls()

"""The DeepEyes reward, computed from the structured Trajectory (not from tag counts in decoded text).

    R = w_acc · acc + w_fmt · fmt + w_tool · tool            (DeepEyes: 0.8, 0.2, 1.2)

acc ∈ {0, 1} from a judge (0 for an answer of ≥ 1000 characters); fmt = −1 on malformed output, else 0;
tool = 1 only when the answer is correct AND at least one image a tool returned was observed (a crop, a
rotation; error observations do not count; ``bonus_tools`` names the tools that count, default all). Malformed output: a turn with unbalanced tags, an over-long answer, or an episode that
ends with no ``<answer>`` (truncated, empty, or a turn with neither a call nor an answer).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from deepeyes_agent.judges import Judge, Truth
from deepeyes_agent.parser import MAX_ANSWER_CHARS
from deepeyes_agent.protocol import TOOL_NAME
from deepeyes_agent.trajectory import Trajectory


class RewardConfig(BaseModel):
    """The DeepEyes reward's weights."""

    accuracy_weight: float = Field(0.8, description="weight of the judged accuracy (0 or 1)")
    format_weight: float = Field(0.2, description="weight of the format term (0, or −1 on malformed output)")
    tool_weight: float = Field(1.2, description="weight of the tool bonus: a right answer after a crop")
    tool_bonus: Literal["conditional", "unconditional"] = Field(
        "conditional",
        description="conditional (DeepEyes): paid only when the answer is right · unconditional: for any episode "
        "that observed a crop (the ablation; tool_weight 0 removes the bonus)",
    )
    max_answer_chars: int = Field(MAX_ANSWER_CHARS, description="answers this long score 0 and are a format error")
    bonus_tools: list[str] | None = Field(
        None,
        description="tools whose image observations earn the tool bonus (default: every tool's; DeepEyes counts "
        "every image a tool returned)",
    )


class RewardParts(BaseModel):
    accuracy: float
    format: float = Field(description="0, or -1 on malformed output")
    tool: float
    total: float
    format_errors: list[str] = Field(default_factory=list)


def format_errors(traj: Trajectory, max_answer_chars: int = MAX_ANSWER_CHARS) -> list[str]:
    errors = [f"turn {i}: {e}" for i, a in enumerate(traj.actions, 1) for e in a.format_errors]
    if traj.answer is None:
        errors.append(f"no <answer> (stopped: {traj.stop_reason})")
    elif len(traj.answer) >= max_answer_chars and not any("characters" in e for e in errors):
        errors.append(f"answer of {len(traj.answer)} characters")
    return errors


def _bonus_images(traj: Trajectory, cfg: RewardConfig) -> int:
    """Observations that showed the model an image, from the tools that earn the bonus."""
    return sum(
        1
        for o in traj.observations
        if o.image is not None and (cfg.bonus_tools is None or (o.tool or TOOL_NAME) in cfg.bonus_tools)
    )


def compute_reward(traj: Trajectory, truth: Truth, judge: Judge, config: RewardConfig | None = None) -> RewardParts:
    cfg = config or RewardConfig()
    errors = format_errors(traj, cfg.max_answer_chars)
    too_long = traj.answer is not None and len(traj.answer) >= cfg.max_answer_chars
    accuracy = 0.0 if traj.answer is None or too_long else judge(traj.answer, truth)
    fmt = -1.0 if errors else 0.0
    tool = 1.0 if _bonus_images(traj, cfg) > 0 and (accuracy > 0.5 or cfg.tool_bonus == "unconditional") else 0.0
    total = cfg.accuracy_weight * accuracy + cfg.format_weight * fmt + cfg.tool_weight * tool
    return RewardParts(accuracy=accuracy, format=fmt, tool=tool, total=total, format_errors=errors)

"""Graph state and configuration of the visual agent.

State values are JSON-native (strings, numbers, lists, dicts) so any checkpointer, ``langgraph dev``
and a JSON trace can hold them; images are ``sha256:`` references into the image store.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from deepeyes_agent.backends.base import SamplingParams
from deepeyes_agent.protocol import SYSTEM_PROMPT
from deepeyes_agent.zoom import ZoomConfig


class VisualAgentInput(TypedDict, total=False):
    """What a caller passes: ``image`` + ``question`` (+ ``options``), or ``messages`` whose last human message
    holds an image block and the question; ``seed`` seeds this episode's sampling in place of the config's
    (RL gives each episode of a group its own)."""

    messages: Annotated[list[AnyMessage], add_messages]
    image: str
    question: str
    options: list[str] | None
    seed: int | None


class VisualAgentOutput(TypedDict, total=False):
    """What a caller gets back: the ``answer``, the whole ``trajectory`` (``Trajectory.from_state(out)``), and
    ``messages`` with an ``AIMessage`` appended when the input came as messages."""

    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None
    trajectory: dict[str, Any]


class VisualAgentState(VisualAgentInput, VisualAgentOutput, total=False):
    """Input, output and the working state between nodes (``image`` becomes a ``sha256:`` reference)."""

    pending_call: dict[str, Any] | None


class AgentConfig(BaseModel):
    """Episode bounds and decoding (DeepEyes: 5 turns, 28,672-token context, temperature 1 in RL)."""

    max_turns: int = Field(5, ge=1, description="model turns per episode; at most max_turns - 1 crops")
    max_context_tokens: int = Field(28672, ge=64, description="prompt + all turns and observations")
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    zoom: ZoomConfig = Field(default_factory=ZoomConfig)
    system_prompt: str = SYSTEM_PROMPT

    @classmethod
    def for_model(cls, model_dir, model_type: str | None = None, **overrides) -> AgentConfig:
        """Defaults a model folder asks for (its ``deepeyes_agent.json`` system prompt; the box frame of
        its family), then ``overrides``."""
        from deepeyes_agent.models import agent_defaults
        from deepeyes_agent.zoom import frame_for_model_type

        values = {k: v for k, v in agent_defaults(model_dir).items() if k in cls.model_fields}
        model_type = model_type or _model_type(model_dir)
        if model_type is not None:
            values["zoom"] = ZoomConfig(frame=frame_for_model_type(model_type))
        return cls(**{**values, **overrides})


def _model_type(model_dir) -> str | None:
    import json
    from pathlib import Path

    config = Path(model_dir) / "config.json"
    return json.loads(config.read_text()).get("model_type") if config.exists() else None

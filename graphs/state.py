"""Graph state and configuration of the visual agent.

State values are JSON-native (strings, numbers, lists, dicts) so any checkpointer, ``langgraph dev``
and a JSON trace can hold them; images are ``sha256:`` references into the image store.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from deepeyes_agent.backends.base import SamplingParams
from deepeyes_agent.protocol import COMPACT_SYSTEM_PROMPT
from deepeyes_agent.tools.toolbox import DEFAULT_TOOLS
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

    pending_calls: list[dict[str, Any]] | None  # the calls of the last turn that run next


class AgentConfig(BaseModel):
    """Episode bounds, decoding and the toolbox (DeepEyes: 5 turns, 28,672-token context, greedy at inference and
    temperature 1 in RL, the zoom alone, one call a turn)."""

    max_turns: int = Field(5, ge=1, description="model turns per episode; at most max_turns - 1 tool turns")
    max_context_tokens: int = Field(28672, ge=64, description="prompt + all turns and observations")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0),
        description="decoding per turn: greedy by default (DeepEyes evaluates at temperature 0); RL sets its own "
        "sampling (temperature 1)",
    )
    zoom: ZoomConfig = Field(default_factory=ZoomConfig)
    tools: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TOOLS),
        description="the tools the model may call: zoom, rotate, or import paths 'package.module:name' of your own "
        "(a @visual_tool function, a VisualTool, a LangChain BaseTool)",
    )
    mcp: dict[str, Any] | None = Field(
        None,
        description="MCP servers whose tools the model may call too, in langchain-mcp-adapters' MultiServerMCPClient "
        "format ({name: {transport: stdio, command, args} | {transport: streamable_http, url}}); each process "
        "that runs the agent connects on its own",
    )
    max_calls_per_turn: int = Field(
        1,
        ge=1,
        description="tool calls run per turn: 1 = DeepEyes' visual_toolbox_v2 (the turn's last call); N > 1 = its "
        "visual_toolbox_v5 (the first N calls, answered in one user turn)",
    )
    prompt_style: Literal["deepeyes", "compact"] = Field(
        "deepeyes",
        description="the system prompt built from the tools: deepeyes (function signatures, DeepEyes' layout: "
        "byte-identical with the zoom alone) · compact (one line per tool, for small models)",
    )
    system_prompt: str | None = Field(None, description="a system prompt of your own, in place of the built one")

    @classmethod
    def for_model(cls, model_dir, model_type: str | None = None, **overrides) -> AgentConfig:
        """Defaults a model folder asks for (its ``deepeyes_agent.json`` system prompt; the box frame of
        its family), then ``overrides``."""
        from deepeyes_agent.models import agent_defaults
        from deepeyes_agent.zoom import frame_for_model_type

        values = {k: v for k, v in agent_defaults(model_dir).items() if k in cls.model_fields}
        if values.get("system_prompt") == COMPACT_SYSTEM_PROMPT:  # folders written before the toolbox: its style
            del values["system_prompt"]
            values.setdefault("prompt_style", "compact")
        model_type = model_type or _model_type(model_dir)
        if model_type is not None:
            values["zoom"] = ZoomConfig(frame=frame_for_model_type(model_type))
        return cls(**{**values, **overrides})


def _model_type(model_dir) -> str | None:
    import json
    from pathlib import Path

    config = Path(model_dir) / "config.json"
    return json.loads(config.read_text()).get("model_type") if config.exists() else None

"""The toolbox settings a run takes (``eval``, ``train``, ``ask``): which tools, how many calls a turn. Unset means
what the model folder says (a checkpoint trained with the rotation remembers it), else DeepEyes' zoom alone."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field


class ToolSettings(BaseModel):
    """The tools the model may call."""

    help_panel: ClassVar[str] = "tools"

    tools: list[str] | None = Field(
        None,
        description="the tools the model may call: zoom, rotate, package.module:name (a "
        "@visual_tool function, a VisualTool, a LangChain BaseTool); default: the model folder's, else zoom",
    )
    mcp: Path | None = Field(
        None,
        description="a JSON file of MCP servers whose tools the model may call too (langchain-mcp-adapters' "
        "MultiServerMCPClient format: stdio and streamable HTTP servers)",
    )
    max_calls_per_turn: int | None = Field(
        None,
        ge=1,
        description="tool calls run per turn: 1 = DeepEyes (v2: the last call), N = visual_toolbox_v5 (the first N); "
        "default: the model folder's, else 1",
    )

    def agent_overrides(self) -> dict:
        """The AgentConfig fields these settings set (the unset ones stay the model folder's); the MCP servers'
        file is read here, so its mistakes are named before anything starts."""
        out = {k: v for k, v in (("tools", self.tools), ("max_calls_per_turn", self.max_calls_per_turn)) if v}
        if self.mcp is not None:
            from .mcp import read_servers

            out["mcp"] = read_servers(self.mcp)
        return out

"""Visual tools: DeepEyes' zoom and rotation, your own functions and LangChain tools, and the toolbox that runs them.

See :mod:`deepeyes_agent.tools.base` for what a tool is, :mod:`deepeyes_agent.tools.function` for the
``@visual_tool`` decorator and :mod:`deepeyes_agent.tools.mcp` for MCP servers' tools.
"""

from ..errors import ToolError
from ..zoom import Box
from .base import ToolContext, ToolResult, VisualTool
from .builtin import RotateArgs, RotateTool, ZoomTool
from .function import FunctionTool, visual_tool
from .langchain import LangChainTool
from .metrics import tool_stats
from .toolbox import DEFAULT_TOOLS, Toolbox, resolve_tool


def make_zoom_tool(image, *, image_processor=None, config=None):
    """The zoom as an ordinary LangChain tool bound to ``image`` (see :mod:`deepeyes_agent.tools.langchain_zoom`)."""
    from .langchain_zoom import make_zoom_tool as zoom_tool

    return zoom_tool(image, image_processor=image_processor, config=config)


def mcp_tools(config):
    """The tools of the MCP servers in ``config`` (see :mod:`deepeyes_agent.tools.mcp`)."""
    from .mcp import mcp_tools as tools_of

    return tools_of(config)


__all__ = [
    "Box",
    "DEFAULT_TOOLS",
    "FunctionTool",
    "LangChainTool",
    "RotateArgs",
    "RotateTool",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "Toolbox",
    "VisualTool",
    "ZoomTool",
    "make_zoom_tool",
    "mcp_tools",
    "resolve_tool",
    "tool_stats",
    "visual_tool",
]

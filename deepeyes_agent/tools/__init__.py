"""Visual tools: DeepEyes' zoom and rotation, your own functions and LangChain tools, and the toolbox that runs them.

See :mod:`deepeyes_agent.tools.base` for what a tool is and :mod:`deepeyes_agent.tools.function` for the
``@visual_tool`` decorator.
"""

from ..errors import ToolError
from ..zoom import Box
from .base import ToolContext, ToolResult, VisualTool
from .builtin import RotateArgs, RotateTool, ZoomTool
from .function import FunctionTool, visual_tool
from .langchain import LangChainTool
from .toolbox import DEFAULT_TOOLS, Toolbox, resolve_tool

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
    "resolve_tool",
    "visual_tool",
]

"""LangGraph graphs of deepeyes-agent (installed as ``deepeyes_agent.graphs``)."""

from .state import AgentConfig, VisualAgentInput, VisualAgentOutput, VisualAgentState
from .visual_agent import create_visual_agent

__all__ = ["AgentConfig", "VisualAgentInput", "VisualAgentOutput", "VisualAgentState", "create_visual_agent"]

"""deepeyes-agent: thinking with images — a VLM that zooms into its own image while it reasons.

Core names are re-exported here; the graph lives in :mod:`deepeyes_agent.graphs`, RL in
:mod:`deepeyes_agent.rl`.
"""

from .backends import GenerationRequest, SamplingParams, ScriptedBackend, TransformersBackend
from .images import ImageError, ImageStore, load_image
from .parser import ParsedTurn, parse_turn
from .prompts import PromptBuilder
from .trajectory import Trajectory
from .zoom import CoordinateFrame, ViewGeometry, ZoomArgs, ZoomConfig, ZoomError, zoom

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("create_visual_agent", "AgentConfig"):
        from . import graphs

        return getattr(graphs, name)
    raise AttributeError(name)


__all__ = [
    "AgentConfig",
    "CoordinateFrame",
    "GenerationRequest",
    "ImageError",
    "ImageStore",
    "ParsedTurn",
    "PromptBuilder",
    "SamplingParams",
    "ScriptedBackend",
    "Trajectory",
    "TransformersBackend",
    "ViewGeometry",
    "ZoomArgs",
    "ZoomConfig",
    "ZoomError",
    "create_visual_agent",
    "load_image",
    "parse_turn",
    "zoom",
]

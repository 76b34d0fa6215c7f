"""deepeyes-agent: thinking with images — a VLM that zooms into its own image while it reasons.

Core names are re-exported here (imported when first used: ``import deepeyes_agent`` and the command line's
``--help`` stay light); the graph lives in :mod:`deepeyes_agent.graphs`, RL in :mod:`deepeyes_agent.rl`.
"""

from .lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "GenerationRequest": ".backends",
    "SamplingParams": ".backends",
    "ScriptedBackend": ".backends",
    "TransformersBackend": ".backends",
    "ImageError": ".images",
    "ImageStore": ".images",
    "load_image": ".images",
    "ParsedTurn": ".parser",
    "parse_turn": ".parser",
    "PromptBuilder": ".prompts",
    "Trajectory": ".trajectory",
    "CoordinateFrame": ".zoom",
    "ViewGeometry": ".zoom",
    "ZoomArgs": ".zoom",
    "ZoomConfig": ".zoom",
    "ZoomError": ".zoom",
    "zoom": ".zoom",
    "create_visual_agent": ".graphs",
    "AgentConfig": ".graphs",
    "visual_tool": ".tools",
    "VisualTool": ".tools",
    "Box": ".tools",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = sorted(_EXPORTS)

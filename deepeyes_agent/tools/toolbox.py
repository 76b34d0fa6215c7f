"""The tools an agent may call, resolved once: what the system prompt lists, which calls of a turn run, and how.

The graph asks the toolbox "which tool?" by name and never branches on a particular tool. With the zoom alone and
one call a turn, every prompt and observation is byte-identical to DeepEyes' ``visual_toolbox_v2``; with
``max_calls_per_turn`` > 1 the layout is ``visual_toolbox_v5``'s (the first N calls of a turn, answered together in
one user turn). Tools are named by short name (``zoom``, ``rotate``), by their own name, by an import path
(``pkg.module:attr`` — a ``@visual_tool`` function, a :class:`VisualTool` class or instance, a LangChain
``BaseTool``, any function), or given as objects.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import InputError, ToolError
from ..protocol import ERR_UNKNOWN_TOOL, compact_system_prompt, system_prompt, user_suffix
from .base import ToolContext, ToolResult, VisualTool
from .builtin import RotateTool, ZoomTool

BUILTIN: dict[str, type[VisualTool]] = {
    "zoom": ZoomTool,
    ZoomTool.name: ZoomTool,
    "rotate": RotateTool,
    RotateTool.name: RotateTool,
}
DEFAULT_TOOLS = (ZoomTool.name,)


def resolve_tool(spec: Any) -> VisualTool:
    """A tool from a name, an import path or an object (see the module docstring)."""
    from langchain_core.tools import BaseTool

    from .function import visual_tool
    from .langchain import LangChainTool

    if isinstance(spec, str):
        if spec in BUILTIN:
            return BUILTIN[spec]()
        if ":" not in spec:
            raise InputError(f"unknown tool {spec!r}: zoom, rotate, or an import path 'package.module:name'")
        module, _, attr = spec.partition(":")
        try:
            spec = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"tool {module}:{attr} cannot be imported: {exc}") from exc
    if isinstance(spec, VisualTool):
        return spec
    if isinstance(spec, type) and issubclass(spec, VisualTool):
        return spec()
    if isinstance(spec, BaseTool):
        return LangChainTool(spec)
    if callable(spec):
        return visual_tool(spec)
    raise InputError(f"not a tool: {spec!r} (a @visual_tool function, a VisualTool, or a LangChain BaseTool)")


class Toolbox:
    """``tools`` in the order the prompt lists them; ``deepeyes_parity`` runs ``image_rotate_tool`` even when it is
    not listed, as DeepEyes' executor does; ``prompt_style`` is ``deepeyes`` (function signatures, DeepEyes'
    layout) or ``compact`` (one line per tool, for small models); ``system_prompt`` replaces the built prompt."""

    def __init__(
        self,
        tools: Sequence[Any] = DEFAULT_TOOLS,
        *,
        max_calls_per_turn: int = 1,
        deepeyes_parity: bool = False,
        prompt_style: str = "deepeyes",
        system_prompt: str | None = None,
    ):
        resolved = [resolve_tool(t) for t in tools]
        if not resolved:
            raise InputError("the agent needs at least one tool")
        names = [t.name for t in resolved]
        if len(set(names)) != len(names):
            raise InputError(f"two tools share a name: {names}")
        self.tools: dict[str, VisualTool] = {t.name: t for t in resolved}
        self.max_calls_per_turn = max_calls_per_turn
        self.deepeyes_parity = deepeyes_parity
        self.prompt_style = prompt_style
        self.explicit_prompt = system_prompt

    @classmethod
    def for_config(cls, config, tools: Sequence[Any] | None = None) -> Toolbox:
        """The toolbox of an :class:`~deepeyes_agent.graphs.AgentConfig` (its tool names), or of ``tools``."""
        return cls(
            tools if tools is not None else config.tools,
            max_calls_per_turn=config.max_calls_per_turn,
            deepeyes_parity=config.zoom.deepeyes_parity,
            prompt_style=config.prompt_style,
            system_prompt=config.system_prompt,
        )

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    @property
    def multi_call(self) -> bool:
        return self.max_calls_per_turn > 1

    # -- prompts -----------------------------------------------------------------------------------------------------
    @property
    def system_prompt(self) -> str:
        if self.explicit_prompt is not None:
            return self.explicit_prompt
        tools = list(self.tools.values())
        if self.prompt_style == "compact":
            return compact_system_prompt(
                [(t.purpose or t.description, t.compact_call or t.example_calls()[0]) for t in tools]
            )
        examples = [call for t in tools for call in t.example_calls()]
        if self.multi_call and len(tools) > 1:  # the two examples show two different tools
            examples = [tools[0].example_calls()[0], tools[1].example_calls()[0]]
        return system_prompt([t.schema_json() for t in tools], examples, self.multi_call)

    @property
    def user_suffix(self) -> str:
        from ..protocol import TURN_PROMPT_V5

        return TURN_PROMPT_V5 if self.multi_call else user_suffix(self.names)

    def prompt_builder(self, processor):
        from ..prompts import PromptBuilder

        return PromptBuilder(processor, self.system_prompt, user_suffix=self.user_suffix, multi_call=self.multi_call)

    # -- execution ---------------------------------------------------------------------------------------------------
    def chosen(self, calls: list) -> list:
        """The calls of a turn that run: the last one (v2), or the first ``max_calls_per_turn`` (v5)."""
        if not calls:
            return []
        return calls[-1:] if not self.multi_call else calls[: self.max_calls_per_turn]

    def get(self, name: str | None) -> VisualTool | None:
        if name in self.tools:
            return self.tools[name]
        if self.deepeyes_parity and name == RotateTool.name:
            return RotateTool()  # DeepEyes executes it though its prompt never offers it
        return None

    def execute(self, name: str | None, arguments: Any, context: ToolContext) -> ToolResult:
        """Run one call; every failure is a :class:`ToolError` carrying the observation the model sees."""
        tool = self.get(name)
        if tool is None:
            raise ToolError(ERR_UNKNOWN_TOOL.format(name=name), f"unknown tool {name!r}")
        if isinstance(tool, (ZoomTool, RotateTool)):  # built in, a few ms of Pillow: inline
            return tool.call(context, arguments)
        return _in_thread(tool, context, arguments)


def _in_thread(tool: VisualTool, context: ToolContext, arguments: Any) -> ToolResult:
    """A user's tool in its own (daemon) thread, so its time limit holds and a blocking tool never blocks an event
    loop; past ``timeout_s`` the call is reported as an error and its thread abandoned (its result is dropped)."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = tool.call(context, arguments)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes an observation
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"tool-{tool.name}", daemon=True)
    thread.start()
    thread.join(tool.timeout_s)
    if thread.is_alive():
        raise ToolError(
            f"Error: {tool.name} took longer than {tool.timeout_s:g} s",
            f"{tool.name} timed out after {tool.timeout_s} s",
        )
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, ToolError):
            raise exc
        raise ToolError(f"Error: {exc}", f"{tool.name} raised {type(exc).__name__}: {exc}") from exc
    return outcome["result"]

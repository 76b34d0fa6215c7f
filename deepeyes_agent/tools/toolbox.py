"""The tools an agent may call, resolved once: what the system prompt lists, which calls of a turn run, and how.

The graph asks the toolbox "which tool?" by name and never branches on a particular tool. With the zoom alone and
one call a turn, every prompt and observation is byte-identical to DeepEyes' ``visual_toolbox_v2``; with
``max_calls_per_turn`` > 1 the layout is ``visual_toolbox_v5``'s (the first N calls of a turn, answered together in
one user turn). Tools are named by short name (``zoom``, ``rotate``), by their own name, by an import path
(``pkg.module:attr`` — a ``@visual_tool`` function, a :class:`VisualTool` class or instance, a LangChain
``BaseTool``, any function; the working folder is searched first, as ``uvicorn`` and ``langgraph dev`` do), or given
as objects; MCP servers' tools come from :func:`~deepeyes_agent.tools.mcp_tools`.

How calls run (:meth:`Toolbox.aexecute` under ``ainvoke``/``abatch``/``astream``, :meth:`Toolbox.execute` under
``invoke``): an async tool is awaited, a synchronous one runs in a thread of its own, an ``inline`` one where the
graph runs; the time limit is the tool's ``timeout_s``. Every failure is a :class:`ToolError` carrying the
observation the model sees and its ``kind`` (for the per-tool error metrics).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
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


def import_object(spec: str):
    """``package.module:attr``, the working folder searched first (``--tools mytools:fn`` with ``mytools.py``
    beside you works without PYTHONPATH)."""
    module, _, attr = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"tool {module}:{attr} cannot be imported: {exc}") from exc


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
        spec = import_object(spec)
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
    """``tools`` in the order the prompt lists them (then the tools of the ``mcp`` servers); ``deepeyes_parity``
    runs ``image_rotate_tool`` even when it is not listed, as DeepEyes' executor does; ``prompt_style`` is
    ``deepeyes`` (function signatures, DeepEyes' layout) or ``compact`` (one line per tool, for small models);
    ``system_prompt`` replaces the built prompt."""

    def __init__(
        self,
        tools: Sequence[Any] = DEFAULT_TOOLS,
        *,
        max_calls_per_turn: int = 1,
        deepeyes_parity: bool = False,
        prompt_style: str = "deepeyes",
        system_prompt: str | None = None,
        mcp: dict | str | None = None,
    ):
        resolved = [resolve_tool(t) for t in tools]
        if mcp:
            from .mcp import mcp_tools

            resolved.extend(mcp_tools(mcp))
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
        """The toolbox of an :class:`~deepeyes_agent.graphs.AgentConfig`: ``tools`` (default: its tool names), then
        the tools of its MCP servers."""
        return cls(
            tools if tools is not None else config.tools,
            max_calls_per_turn=config.max_calls_per_turn,
            deepeyes_parity=config.zoom.deepeyes_parity,
            prompt_style=config.prompt_style,
            system_prompt=config.system_prompt,
            mcp=config.mcp,
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

    def get(self, name: str | None) -> VisualTool:
        """The tool a call names; an unknown name is a :class:`ToolError` with DeepEyes' observation."""
        if name in self.tools:
            return self.tools[name]
        if self.deepeyes_parity and name == RotateTool.name:
            return RotateTool()  # DeepEyes executes it though its prompt never offers it
        raise ToolError(ERR_UNKNOWN_TOOL.format(name=name), f"unknown tool {name!r}", kind="unknown_tool")

    def execute(self, name: str | None, arguments: Any, context: ToolContext) -> ToolResult:
        """Run one call where no event loop is (``graph.invoke``): inline, or in a thread of its own within the
        tool's time limit (an async tool on that thread's own loop)."""
        tool = self.get(name)
        if tool.inline:
            return _outcome(tool, lambda: tool.call(context, arguments))
        future = in_thread(lambda: tool.call(context, arguments), f"tool-{tool.name}")
        done, _ = concurrent.futures.wait([future], timeout=tool.timeout_s)
        if not done:
            raise _timed_out(tool)
        return _outcome(tool, future.result)

    async def aexecute(self, name: str | None, arguments: Any, context: ToolContext) -> ToolResult:
        """Run one call on the graph's event loop without blocking it: an async tool is awaited, a synchronous one
        runs in a thread of its own, an inline one here; the time limit is an asyncio one (an async call past it is
        cancelled)."""
        tool = self.get(name)
        if tool.inline:
            return _outcome(tool, lambda: tool.call(context, arguments))
        if tool.is_async:
            task = asyncio.ensure_future(tool.acall(context, arguments))
        else:
            task = asyncio.wrap_future(in_thread(lambda: tool.call(context, arguments), f"tool-{tool.name}"))
        try:
            done, _ = await asyncio.wait({task}, timeout=tool.timeout_s)
        except asyncio.CancelledError:  # the episode itself was cancelled: so is its call
            task.cancel()
            raise
        if not done:
            task.cancel()
            raise _timed_out(tool)
        return _outcome(tool, task.result)


def in_thread(fn: Callable[[], Any], name: str) -> concurrent.futures.Future:
    """``fn()`` in a daemon thread of its own, as a future: a call past its time limit is abandoned there (Python
    cannot stop a thread) without holding a pool's worker or the interpreter's exit."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def target():
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the caller
            future.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def _timed_out(tool: VisualTool) -> ToolError:
    return ToolError(
        f"Error: {tool.name} took longer than {tool.timeout_s:g} s",
        f"{tool.name} timed out after {tool.timeout_s} s",
        kind="timeout",
    )


def _outcome(tool: VisualTool, result: Callable[[], ToolResult]) -> ToolResult:
    """``result()``, every failure of the tool's as a :class:`ToolError` (an observation, never an exception out
    of the graph)."""
    try:
        return result()
    except ToolError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an observation (CancelledError propagates)
        raise ToolError(f"Error: {exc}", f"{tool.name} raised {type(exc).__name__}: {exc}", kind="failed") from exc

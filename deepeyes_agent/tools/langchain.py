"""A LangChain ``BaseTool`` as a visual tool: what a LangGraph user already has (an OCR function, a detector).

The model sees the tool's own schema (``tool_call_schema``: its injected arguments left out). An argument marked
``InjectedToolArg`` and named ``image`` receives the episode's original image as a ``data:image/png;base64,…`` URL;
``images``, every image so far (original first). The output may be a text, a list of content blocks (text blocks and
image blocks: LangChain's standard ``{"type": "image", "base64": …}``, ``image_url`` data URLs, or
``source_type: base64``) or a ``ToolMessage`` holding them.

A tool written ``async def`` (coroutine-only, as every tool ``langchain-mcp-adapters`` makes) is awaited through
``ainvoke`` — under ``graph.invoke`` too, on a worker thread's own loop; a synchronous one runs ``invoke`` in a thread
of its own (LangChain's ``ainvoke`` would queue it on the loop's small default executor).
"""

from __future__ import annotations

from pydantic import BaseModel

from ..images import png_base64
from .base import ToolContext, ToolResult, VisualTool, purpose_of
from .content import content_to_result
from .schema import parameters_schema


class LangChainTool(VisualTool):
    def __init__(self, tool, *, timeout_s: float | None = None, purpose: str | None = None):
        from langchain_core.tools import BaseTool

        if not isinstance(tool, BaseTool):
            raise TypeError(f"expected a LangChain BaseTool, got {type(tool).__name__}")
        self.tool = tool
        self.name = tool.name
        self.description = tool.description or tool.name
        self.timeout_s = timeout_s
        self.purpose = purpose or purpose_of(self.description)
        self.visible = tool.tool_call_schema
        self.args_schema = (
            self.visible if isinstance(self.visible, type) and issubclass(self.visible, BaseModel) else None
        )
        every = tool.get_input_schema()
        shown = set(self.args_schema.model_fields) if self.args_schema is not None else set(tool.args)
        self.injected = [name for name in every.model_fields if name not in shown]
        self.is_async = coroutine_only(tool)

    def parameters(self) -> dict:
        return parameters_schema(self.visible if isinstance(self.visible, dict) else self.args_schema)

    def _payload(self, context: ToolContext, arguments) -> dict:
        payload = arguments.model_dump() if isinstance(arguments, BaseModel) else dict(arguments)
        for name in self.injected:
            if name == "image":
                payload[name] = image_data_url(context.original)
            elif name == "images":
                payload[name] = [image_data_url(img) for img in context.images]
        return payload

    def run(self, context: ToolContext, arguments) -> ToolResult:
        return content_to_result(self.tool.invoke(self._payload(context, arguments)), self.name)

    async def arun(self, context: ToolContext, arguments) -> ToolResult:
        return content_to_result(await self.tool.ainvoke(self._payload(context, arguments)), self.name)


def coroutine_only(tool) -> bool:
    """A LangChain tool to await: an async body and no synchronous one (``@tool async def``, MCP adapters' tools),
    or a ``BaseTool`` subclass with an ``_arun`` of its own."""
    from langchain_core.tools import BaseTool, StructuredTool, Tool

    if isinstance(tool, (StructuredTool, Tool)):
        return tool.coroutine is not None and tool.func is None
    return type(tool)._arun is not BaseTool._arun  # a subclass with an async body of its own: await it


def image_data_url(image) -> str:
    """An image as the ``data:image/png;base64,…`` URL tools that cannot take a ``PIL.Image`` receive."""
    return "data:image/png;base64," + png_base64(image, compress_level=1)

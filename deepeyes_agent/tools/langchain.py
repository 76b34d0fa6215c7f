"""A LangChain ``BaseTool`` as a visual tool: what a LangGraph user already has (an OCR function, a detector).

The model sees the tool's own schema (``tool_call_schema``: its injected arguments left out). An argument marked
``InjectedToolArg`` and named ``image`` receives the episode's original image as a ``data:image/png;base64,…`` URL;
``images``, every image so far (original first). The output may be a text, a list of content blocks (text blocks and
image blocks: LangChain's standard ``{"type": "image", "base64": …}``, ``image_url`` data URLs, or
``source_type: base64``) or a ``ToolMessage`` holding them.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel

from ..images import load_image, png_base64
from .base import ToolContext, ToolResult, VisualTool, purpose_of


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
        visible = tool.tool_call_schema
        self.args_schema = visible if isinstance(visible, type) and issubclass(visible, BaseModel) else None
        every = tool.get_input_schema()
        shown = set(self.args_schema.model_fields) if self.args_schema is not None else set(tool.args)
        self.injected = [name for name in every.model_fields if name not in shown]

    def parameters(self) -> dict:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        parameters = dict(convert_to_openai_tool(self.tool)["function"].get("parameters", {}))
        return {
            "type": "object",
            "properties": parameters.get("properties", {}),
            "required": parameters.get("required", []),
        }

    def call(self, context: ToolContext, arguments: Any) -> ToolResult:
        if self.args_schema is not None:
            return super().call(context, arguments)
        return self.run(context, arguments)

    def run(self, context: ToolContext, arguments) -> ToolResult:
        payload = arguments.model_dump() if isinstance(arguments, BaseModel) else dict(arguments)
        for name in self.injected:
            if name == "image":
                payload[name] = _data_url(context.original)
            elif name == "images":
                payload[name] = [_data_url(img) for img in context.images]
        return content_to_result(self.tool.invoke(payload), self.name)


def _data_url(image) -> str:
    return "data:image/png;base64," + png_base64(image, compress_level=1)


def content_to_result(out: Any, name: str) -> ToolResult:
    """A LangChain tool's output (text, content blocks, a ToolMessage) as a :class:`ToolResult`."""
    from langchain_core.messages import ToolMessage
    from PIL import Image

    if isinstance(out, ToolMessage):
        out = out.content
    if isinstance(out, Image.Image):
        return ToolResult(image=out)
    if isinstance(out, str):
        return ToolResult(text=out)
    blocks = [out] if isinstance(out, dict) else list(out)
    images, texts = [], []
    for block in blocks:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif isinstance(block, dict) and (encoded := _image_bytes(block)) is not None:
            images.append(load_image(encoded, name=f"{name}'s image"))
        else:
            raise TypeError(f"{name} returned a content block it cannot show the model: {str(block)[:120]}")
    if len(images) > 1:
        raise TypeError(f"{name} returned {len(images)} images: a tool returns at most one")
    return ToolResult(image=images[0] if images else None, text="\n".join(texts) if texts else None)


def _image_bytes(block: dict) -> bytes | None:
    if block.get("type") == "image" and block.get("base64"):
        return base64.b64decode(block["base64"])
    if block.get("type") == "image" and block.get("source_type") == "base64" and block.get("data"):
        return base64.b64decode(block["data"])
    if block.get("type") == "image_url":
        url = block["image_url"]["url"] if isinstance(block.get("image_url"), dict) else block.get("image_url")
        if isinstance(url, str) and url.startswith("data:") and "," in url:
            return base64.b64decode(url.split(",", 1)[1])
    return None

"""What a tool returned, as what the model is shown (:class:`~deepeyes_agent.tools.ToolResult`): one place for every
kind of tool — a function's return value, a LangChain tool's output (text, content blocks, a ``ToolMessage``), an MCP
server's content (text, image, audio, resources).

An image passes the limits every input image passes (the upload size before a byte is decoded, Pillow's
decompression-bomb limit); content the model cannot see (audio, a file, an embedded resource) becomes a text saying
so, never a silent drop.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from ..images import MAX_UPLOAD_BYTES, decode_base64, decode_data_url, load_image, png_base64
from .base import ToolResult

UNSEEN = "[{name} returned {what}, which the model cannot see]"


def image_block(img: Image.Image) -> dict:
    """An image as LangChain's standard content block (what a chat model and a ToolMessage carry)."""
    return {"type": "image", "base64": png_base64(img), "mime_type": "image/png"}


def as_result(out: Any, name: str) -> ToolResult:
    """A tool's return value: an image, a text, an (image, text) pair, a :class:`ToolResult`, content blocks or a
    ``ToolMessage``."""
    if isinstance(out, ToolResult):
        return out
    if isinstance(out, Image.Image):
        return ToolResult(image=out)
    if isinstance(out, str):
        return ToolResult(text=out)
    if isinstance(out, tuple) and len(out) == 2:
        image = next((x for x in out if isinstance(x, Image.Image)), None)
        text = next((x for x in out if isinstance(x, str)), None)
        if image is not None or text is not None:
            return ToolResult(image=image, text=text)
    if isinstance(out, (list, dict)) or type(out).__name__ == "ToolMessage":
        return content_to_result(out, name)
    raise TypeError(f"{name} returned {type(out).__name__}: return an image, a text, or both")


def content_to_result(out: Any, name: str, max_image_bytes: int = MAX_UPLOAD_BYTES) -> ToolResult:
    """Content blocks — LangChain's (``{"type": "text"}``, ``{"type": "image", "base64": …}``, ``image_url`` data
    URLs, ``source_type: base64``) or MCP's (``TextContent``, ``ImageContent``, ``AudioContent``,
    ``EmbeddedResource``, ``ResourceLink``, as objects or dicts) — as a result: the texts joined, at most one image."""
    from langchain_core.messages import ToolMessage

    if isinstance(out, ToolMessage):
        out = out.content
    if isinstance(out, Image.Image):
        return ToolResult(image=out)
    if isinstance(out, str):
        return ToolResult(text=out)
    blocks = [out] if isinstance(out, dict) or hasattr(out, "model_dump") else list(out)
    images, texts = [], []
    for block in blocks:
        if hasattr(block, "model_dump"):  # an MCP content object
            block = block.model_dump(by_alias=True)
        if isinstance(block, str):
            texts.append(block)
            continue
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind in ("image", "image_url"):
            images.append(load_image(_image_bytes(block, name, max_image_bytes), name=f"{name}'s image"))
        elif kind in ("audio", "video", "file", "resource", "resource_link"):
            what = {"resource": "an embedded resource", "resource_link": "a resource link"}.get(kind, kind)
            texts.append(UNSEEN.format(name=name, what=what))
        else:
            raise TypeError(f"{name} returned a content block it cannot show the model: {str(block)[:120]}")
    if len(images) > 1:
        raise TypeError(f"{name} returned {len(images)} images: a tool returns at most one")
    return ToolResult(image=images[0] if images else None, text="\n".join(texts) if texts else None)


def _image_bytes(block: dict, name: str, max_bytes: int) -> bytes:
    label = f"{name}'s image"
    if block.get("type") == "image_url":
        url = block["image_url"]["url"] if isinstance(block.get("image_url"), dict) else block.get("image_url")
        if isinstance(url, str) and url.startswith("data:"):
            return decode_data_url(url, max_bytes, name=label)
        raise TypeError(f"{name} returned an image by URL ({str(url)[:80]}): return the image itself (base64)")
    payload = block.get("base64") or block.get("data")  # LangChain's standard block, v0 blocks and MCP's
    if not isinstance(payload, str) or not payload:
        raise TypeError(f"{name} returned an image block without base64 data: {str(block)[:120]}")
    return decode_base64(payload, max_bytes=max_bytes, name=label)

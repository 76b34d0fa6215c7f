"""Tools a user could write, importable by path (``tool_fixtures:enhance``) as OpenRLHF's Ray workers import them."""

from __future__ import annotations

import os
import time
from typing import Annotated

from langchain_core.tools import InjectedToolArg, tool
from PIL import Image, ImageEnhance
from pydantic import Field

from deepeyes_agent.tools import Box, ZoomTool, visual_tool


class WorkerZoom(ZoomTool):
    """DeepEyes' zoom under the same name and prompt (so a model trained on the zoom calls it), imported by path
    (``tool_fixtures:WorkerZoom``): each call appends the id of the process that runs it to the file named by
    ``TOOL_FIXTURES_CALL_LOG``, to show where a tool runs — on OpenRLHF's Ray workers, not the driver."""

    def call(self, context, arguments):
        if log := os.environ.get("TOOL_FIXTURES_CALL_LOG"):
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")
        return super().call(context, arguments)


@visual_tool
def enhance(image: Image.Image, region: Box, factor: Annotated[float, Field(description="contrast factor")] = 2.0):
    """Raise the contrast of a region of the image, to read faint detail."""
    return ImageEnhance.Contrast(image.crop(region)).enhance(factor)


@visual_tool
def count_pixels(image: Image.Image, region: Box) -> str:
    """Say how large a region is, in original pixels."""
    x1, y1, x2, y2 = region
    return f"{x2 - x1}x{y2 - y1} pixels at ({x1}, {y1})"


@visual_tool(timeout_s=0.3)
def slow(image: Image.Image) -> str:
    """A tool that takes too long."""
    time.sleep(5)
    return "too late"


@visual_tool
def broken(image: Image.Image) -> str:
    """A tool that fails."""
    raise RuntimeError("the detector is offline")


@tool
def describe_size(image: Annotated[str, InjectedToolArg], detail: str = "size") -> list:
    """Describe the image (a LangChain tool: the image arrives as a data URL, the answer as content blocks)."""
    import base64
    import io

    data = base64.b64decode(image.split(",", 1)[1])
    img = Image.open(io.BytesIO(data))
    thumb = img.resize((img.width // 4, img.height // 4))
    buf = io.BytesIO()
    thumb.save(buf, format="PNG")
    return [
        {"type": "text", "text": f"{detail}: {img.width}x{img.height}"},
        {"type": "image", "base64": base64.b64encode(buf.getvalue()).decode(), "mime_type": "image/png"},
    ]

"""An MCP server the tests start (the ``mcp`` SDK's ``MCPServer``), over stdio or streamable HTTP on 127.0.0.1:

    python tests/mcp_server.py                 # stdio
    python tests/mcp_server.py http PORT       # streamable HTTP at http://127.0.0.1:PORT/mcp

Its tools: ``corner`` crops a corner of the episode's image (an image tool: the agent injects the image as a data
URL), ``describe`` answers in text, ``wait`` sleeps (a slow or hanging tool), ``crash`` kills the server mid-call,
``listen`` returns audio (content the model cannot see).
"""

from __future__ import annotations

import base64
import io
import os
import sys

import anyio
from mcp.server.mcpserver import Image, MCPServer
from mcp.types import AudioContent
from PIL import Image as PILImage

server = MCPServer("test-vision", log_level="WARNING")


def _decode(data_url: str) -> PILImage.Image:
    return PILImage.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")


@server.tool()
def corner(image: str, which: str = "top-left", size: int = 200) -> Image:
    """Crop a square from one corner of the image, to look closer at it."""
    img = _decode(image)
    x = 0 if "left" in which else img.width - size
    y = 0 if "top" in which else img.height - size
    buf = io.BytesIO()
    img.crop((x, y, x + size, y + size)).save(buf, format="PNG")
    return Image(data=buf.getvalue(), format="png")


@server.tool()
def describe(image: str, detail: str = "size") -> str:
    """Describe the image in words."""
    img = _decode(image)
    return f"{detail}: {img.width}x{img.height} pixels"


@server.tool()
async def wait(seconds: float = 1.0) -> str:
    """Wait, then say so (a remote service that takes its time)."""
    await anyio.sleep(seconds)
    return f"waited {seconds:g} s"


@server.tool()
def crash() -> str:
    """Kill the server mid-call."""
    os._exit(1)


@server.tool()
def listen() -> AudioContent:
    """Return a sound."""
    return AudioContent(type="audio", data=base64.b64encode(b"RIFF").decode(), mime_type="audio/wav")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()

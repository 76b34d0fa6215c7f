"""The graph `langgraph dev` / LangGraph Platform serves (see langgraph.json at the repository root).

The server supplies persistence (threads, checkpoints), so the graph is compiled without a checkpointer.
The model is the embedded default, or the local folder named by ``DEEPEYES_AGENT_MODEL``. Input:
``{"image": data URL, "question": ..., "options": [...]}`` or ``{"messages": [human message with a base64
image block]}``; the thread's state holds ``answer`` and ``trajectory`` (images by ``sha256:`` reference in
the server's image store).

Whoever reaches the HTTP API is not trusted with this machine's disk: local paths are refused (relative paths
under ``DEEPEYES_AGENT_IMAGE_ROOT`` excepted, when it is set), uploads over ``DEEPEYES_AGENT_MAX_UPLOAD_MB``
(default 32) are refused before decoding, and a ``sha256:`` reference is accepted only from the thread that
produced it.

Tools: the ones named in ``DEEPEYES_AGENT_TOOLS`` (comma-separated, e.g. ``zoom,rotate,mypkg.tools:ocr``) when set,
else the model folder's, then the tools of the MCP servers in the JSON file ``DEEPEYES_AGENT_MCP`` names (connected
when the server starts). They are resolved here, once, on the server; a request can neither enable a tool, add an MCP
server nor make the graph import anything: its input has no tool setting, and a tool call naming anything else — an
import path included — is answered ``Error: Unknown tool name``.
"""

from __future__ import annotations

import os

from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.tools.mcp import read_servers


def server_tools() -> list[str] | None:
    names = [t.strip() for t in os.environ.get("DEEPEYES_AGENT_TOOLS", "").split(",") if t.strip()]
    return names or None


def server_mcp() -> AgentConfig | None:
    """The server's own MCP servers (``DEEPEYES_AGENT_MCP``: a JSON file), as the config the graph is built with."""
    path = os.environ.get("DEEPEYES_AGENT_MCP")
    return AgentConfig(mcp=read_servers(path)) if path else None


def make_graph():
    max_mb = float(os.environ.get("DEEPEYES_AGENT_MAX_UPLOAD_MB", "32"))
    return create_visual_agent(
        os.environ.get("DEEPEYES_AGENT_MODEL") or None,
        tools=server_tools(),
        config=server_mcp(),
        allow_local_paths=False,
        image_root=os.environ.get("DEEPEYES_AGENT_IMAGE_ROOT") or None,
        max_upload_bytes=int(max_mb * 1024**2),
    )


graph = make_graph()

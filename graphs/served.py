"""The graph `langgraph dev` / LangGraph Platform serves (see langgraph.json at the repository root).

The server supplies persistence (threads, checkpoints), so the graph is compiled without a checkpointer.
The model is the embedded default, or the local folder named by ``DEEPEYES_AGENT_MODEL``. Input:
``{"image": path | data URL, "question": ..., "options": [...]}`` or ``{"messages": [human message with
an image block]}``; the thread's state holds ``answer`` and ``trajectory`` (images by ``sha256:``
reference in the server's image store).
"""

from __future__ import annotations

import os

from deepeyes_agent.backends import TransformersBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.models import default_model_dir


def make_graph():
    model_dir = os.environ.get("DEEPEYES_AGENT_MODEL") or default_model_dir()
    return create_visual_agent(TransformersBackend.from_pretrained(model_dir), config=AgentConfig.for_model(model_dir))


graph = make_graph()

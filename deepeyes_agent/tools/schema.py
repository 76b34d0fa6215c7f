"""One JSON schema for a tool's arguments, whatever the tool is: a pydantic model (``VisualTool.args_schema``, the
schema ``@visual_tool`` reads from a signature), a LangChain tool's ``tool_call_schema`` or an MCP server's
``inputSchema``. Nested models are inlined (no ``$ref`` a model could not follow: langchain-core's
``dereference_refs``), titles dropped, and the top-level shape is the function-calling one
``{"type": "object", "properties": …, "required": […]}`` the system prompt and ``bind_tools`` list."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def parameters_schema(source: type[BaseModel] | dict | None) -> dict:
    """The arguments' schema of ``source`` (a pydantic model class or a JSON schema dict; None: no arguments)."""
    from langchain_core.utils.json_schema import dereference_refs

    if source is None:
        schema: dict = {}
    elif isinstance(source, dict):
        schema = source
    else:
        schema = source.model_json_schema()
    if "$ref" in schema or "$defs" in schema or "definitions" in schema:
        schema = dereference_refs(schema, skip_keys=[])
    properties = {name: _untitled(_no_default(prop)) for name, prop in (schema.get("properties") or {}).items()}
    return {"type": "object", "properties": properties, "required": list(schema.get("required") or [])}


def _no_default(prop: Any) -> Any:
    """A top-level property without its default (a prompt shows what to write, not what is assumed)."""
    return {k: v for k, v in prop.items() if k != "default"} if isinstance(prop, dict) else prop


def _untitled(node: Any, parent: str = "") -> Any:
    """``node`` without the ``title`` keywords pydantic writes (a property NAMED ``title`` is kept)."""
    if isinstance(node, dict):
        return {
            k: _untitled(v, k)
            for k, v in node.items()
            if not (k == "title" and parent != "properties") and k not in ("$defs", "definitions")
        }
    if isinstance(node, list):
        return [_untitled(v, parent) for v in node]
    return node

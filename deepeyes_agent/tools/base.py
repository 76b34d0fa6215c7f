"""What a visual tool is: a name, a description, an argument schema, and a ``run`` over the episode's images.

A tool receives a :class:`ToolContext` — the episode's images by reference (the original first, then the crops and
other tool images of earlier turns, readable only through the context: a tool never reaches another thread's
images), the model's view geometry and box frame — and the parsed, validated arguments; it returns a
:class:`ToolResult`: an image, a text, or both. Anything it raises becomes an error observation (``Error: …``) and
the episode goes on; nothing leaves the graph. (verl's ``BaseTool`` and LangChain's ``BaseTool`` draw the same line.)

A tool is synchronous (``run``) or asynchronous (``arun``, ``is_async = True``): the toolbox awaits an async tool on
the graph's event loop and runs a synchronous one in a thread of its own, so a tool that waits — a remote OCR
service, an MCP server — never holds up the other episodes in flight. ``inline = True`` declares a tool cheap enough
to run where the graph runs (the built-in zoom and rotation: a few milliseconds of Pillow).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from PIL import Image
from pydantic import BaseModel

from ..errors import ToolError
from ..images import ImageStore
from ..zoom import ViewGeometry, ZoomConfig
from .schema import parameters_schema


@dataclass
class ToolContext:
    """What a call may see: the episode's images (references, original first) and how the model saw the original."""

    image_refs: list[str]
    store: ImageStore
    geometry: ViewGeometry
    zoom: ZoomConfig
    _cache: dict[str, Image.Image] = field(default_factory=dict, repr=False)

    @property
    def original(self) -> Image.Image:
        """The episode's first image at full resolution (what DeepEyes' tools always work on)."""
        return self.image(self.image_refs[0])

    def image(self, ref: str) -> Image.Image:
        """One of the episode's images; a reference from anywhere else is refused."""
        if ref not in self.image_refs:
            raise ToolError(f"Error: unknown image {ref}", f"the tool asked for {ref!r}, not an image of this episode")
        if ref not in self._cache:
            self._cache[ref] = self.store.get(ref)
        return self._cache[ref]

    @property
    def images(self) -> list[Image.Image]:
        return [self.image(r) for r in self.image_refs]


@dataclass
class ToolResult:
    """What a call returns: an ``image`` (shown to the model), a ``text``, or both; ``box_model`` /
    ``box_original`` when the call cropped a box (the viewer draws it). ``derivation``: when the image is a pure
    function of the original and the arguments (``"crop/x1,y1,x2,y2"``), the image store names it by that instead of
    hashing its pixels."""

    image: Image.Image | None = None
    text: str | None = None
    box_model: tuple[float, ...] | None = None
    box_original: tuple[int, int, int, int] | None = None
    derivation: str | None = None

    def __post_init__(self):
        if self.image is None and self.text is None:
            raise ValueError("a tool result needs an image, a text, or both")


class VisualTool:
    """The base of every tool the agent can call. Subclasses set ``name``, ``description``, ``args_schema`` (a
    pydantic model of the arguments the model writes) and implement :meth:`run` — or :meth:`arun` with
    ``is_async = True``.

    ``timeout_s``: a call that takes longer is reported to the model as an error (an async call is cancelled; a
    synchronous one's thread is abandoned and its result discarded).
    ``purpose``: the short phrase the compact system prompt uses ("To {purpose}, call the tool: …").
    ``inline``: the tool is a few milliseconds of CPU and runs where the graph runs, without a thread."""

    name: ClassVar[str]
    description: ClassVar[str]
    args_schema: ClassVar[type[BaseModel] | None]
    examples: ClassVar[tuple[str, ...]] = ()  # calls shown in the system prompt's example (default: made up)
    compact_call: ClassVar[str | None] = None
    purpose: ClassVar[str | None] = None
    timeout_s: float | None = None
    inline: ClassVar[bool] = False
    is_async: bool = False

    def run(self, context: ToolContext, arguments: BaseModel) -> ToolResult:  # pragma: no cover - abstract
        raise NotImplementedError

    async def arun(self, context: ToolContext, arguments: Any) -> ToolResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, arguments: Any) -> Any:
        """The model's raw arguments validated against ``args_schema``; a bad call is a :class:`ToolError`."""
        if not isinstance(arguments, dict):
            raise ToolError(
                f"Error: arguments of {self.name} must be an object",
                f"arguments {arguments!r:.200}",
                kind="invalid_arguments",
            )
        if self.args_schema is None:
            return arguments
        try:
            return self.args_schema.model_validate(arguments)
        except Exception as exc:  # pydantic's ValidationError
            raise ToolError(
                f"Error: {_first_error(exc)}", f"invalid arguments {arguments!r:.200}: {exc}", kind="invalid_arguments"
            ) from exc

    def call(self, context: ToolContext, arguments: Any) -> ToolResult:
        """Validate the model's raw arguments, then run — an async tool on an event loop of its own (this runs in
        a worker thread, or inline for a synchronous built-in). A subclass whose error texts must be DeepEyes' (the
        zoom, the rotation) overrides this to read its arguments as DeepEyes does."""
        parsed = self.parse(arguments)
        if self.is_async:
            return asyncio.run(self.arun(context, parsed))
        return self.run(context, parsed)

    async def acall(self, context: ToolContext, arguments: Any) -> ToolResult:
        """Validate, then await :meth:`arun` (async tools only; the toolbox runs synchronous ones in a thread)."""
        return await self.arun(context, self.parse(arguments))

    def parameters(self) -> dict:
        """The JSON schema of the arguments the model writes (what the system prompt lists), nested models inlined."""
        return parameters_schema(self.args_schema)

    def schema_json(self) -> str:
        """The function-calling signature line of the system prompt (compact JSON, as DeepEyes writes its own)."""
        function = {"name": self.name, "description": self.description, "parameters": self.parameters()}
        return json.dumps({"type": "function", "function": function}, separators=(",", ":"), ensure_ascii=False)

    def example_calls(self) -> list[str]:
        """Example calls for the system prompt: the tool's own, or one with a placeholder per required argument."""
        if self.examples:
            return list(self.examples)
        placeholders = {"number": 0, "integer": 0, "string": "...", "array": [], "boolean": True, "object": {}}
        params = self.parameters()
        arguments = {
            k: placeholders.get(params["properties"].get(k, {}).get("type"), "...") for k in params["required"]
        }
        return [json.dumps({"name": self.name, "arguments": arguments})]

    def openai_schema(self) -> dict:
        """The same signature as LangChain's ``bind_tools`` takes it."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters()},
        }


def purpose_of(description: str) -> str:
    """The compact prompt's "To <purpose>, call the tool" phrase from a description: its first letter lowered."""
    text = description.rstrip(".")
    return text[:1].lower() + text[1:]


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)

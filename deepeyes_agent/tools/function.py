"""A plain Python function as a visual tool: ``@visual_tool`` reads the argument schema from its signature.

    @visual_tool
    def enhance_contrast(image: Image.Image, region: Box, factor: float = 2.0) -> Image.Image:
        \"\"\"Raise the contrast of a region of the image, to read faint detail.\"\"\"
        return ImageEnhance.Contrast(image.crop(region)).enhance(factor)

Parameters the model does not write are filled in by the agent: ``image`` (a ``PIL.Image.Image``: the episode's
original, full resolution), ``images`` (every image so far, original first), ``context`` (a
:class:`~deepeyes_agent.tools.ToolContext`). Every other parameter is an argument the model writes (its type and
default from the signature, its description from ``Annotated[..., Field(description=...)]``); a parameter typed
:data:`~deepeyes_agent.zoom.Box` is read in the model's frame and arrives as ORIGINAL pixels ``(x1, y1, x2, y2)``,
mapped as the zoom maps its box. The description is the docstring's first paragraph. Return an image, a text, both
(a tuple), or a :class:`~deepeyes_agent.tools.ToolResult`; an ``async def`` works too.
"""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, create_model

from ..zoom import is_box, original_box
from .base import ToolContext, ToolResult, VisualTool, purpose_of
from .content import as_result

INJECTED = {"image", "images", "context"}


class FunctionTool(VisualTool):
    """A function with the signature conventions above (built by :func:`visual_tool`)."""

    def __init__(
        self,
        fn: Callable,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        purpose: str | None = None,
    ):
        self.fn = fn
        self.name = name or fn.__name__
        doc = inspect.getdoc(fn) or ""
        self.description = description or doc.split("\n\n")[0].replace("\n", " ").strip() or self.name
        self.timeout_s = timeout_s
        self.purpose = purpose or purpose_of(self.description)
        hints = typing.get_type_hints(fn, include_extras=True)
        fields: dict[str, Any] = {}
        self.boxes: set[str] = set()
        self.injected: list[str] = []
        for pname, param in inspect.signature(fn).parameters.items():
            if pname in INJECTED:
                self.injected.append(pname)
                continue
            annotation = hints.get(pname, Any)
            if is_box(annotation):
                self.boxes.add(pname)
            fields[pname] = (annotation, ... if param.default is inspect.Parameter.empty else param.default)
        self.args_schema: type[BaseModel] = create_model(f"{self.name}_arguments", **fields)
        self.is_async = inspect.iscoroutinefunction(fn)

    def _kwargs(self, context: ToolContext, arguments: BaseModel) -> dict:
        kwargs = {k: getattr(arguments, k) for k in type(arguments).model_fields}
        for name in self.boxes:
            if kwargs.get(name) is not None:
                kwargs[name] = original_box(kwargs[name], context.geometry, context.zoom)
        given = {"image": lambda: context.original, "images": lambda: context.images, "context": lambda: context}
        kwargs.update({name: given[name]() for name in self.injected})
        return kwargs

    def run(self, context: ToolContext, arguments: BaseModel) -> ToolResult:
        out = self.fn(**self._kwargs(context, arguments))
        if inspect.isawaitable(out):  # a function that returns an awaitable: this is a worker thread, no loop here
            out = asyncio.run(_awaited(out))
        return as_result(out, self.name)

    async def arun(self, context: ToolContext, arguments: BaseModel) -> ToolResult:
        return as_result(await self.fn(**self._kwargs(context, arguments)), self.name)


async def _awaited(awaitable):
    return await awaitable


def visual_tool(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    purpose: str | None = None,
):
    """Make a function a visual tool (see the module docstring); usable bare (``@visual_tool``) or with settings
    (``@visual_tool(timeout_s=5)``)."""

    def wrap(f: Callable) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, timeout_s=timeout_s, purpose=purpose)

    return wrap(fn) if fn is not None else wrap

"""DeepEyes' own tools: ``image_zoom_in_tool`` (the crop, with this library's box frames) and ``image_rotate_tool``
(``visual_toolbox_v2`` executes it on the original image though its system prompt never offers it).

Both read their arguments as DeepEyes' executor does, so the model sees DeepEyes' error texts: a missing key is
``Error: 'angle'``, arguments that are not an object ``Error: list indices must be integers or slices, not str``,
a string angle Pillow's own ``Error: not all arguments converted during string formatting``.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ToolError
from ..protocol import (
    ROTATE_TOOL_NAME,
    TOOL_NAME,
    TOOL_SCHEMA_JSON,
    ZOOM_COMPACT_CALL,
    ZOOM_DESCRIPTION,
    ZOOM_EXAMPLE,
    ZOOM_EXAMPLE_V5,
)
from ..zoom import ZoomArgs, zoom
from .base import ToolContext, ToolResult, VisualTool


class ZoomTool(VisualTool):
    """Crop a box of the ORIGINAL image (never a crop of a crop), the box read in the model's frame and mapped to
    the original's pixels; DeepEyes' clamp and size rules (see :mod:`deepeyes_agent.zoom`)."""

    name = TOOL_NAME
    description = ZOOM_DESCRIPTION
    args_schema = ZoomArgs
    purpose = "look closer at a region of the image"
    examples = (ZOOM_EXAMPLE, ZOOM_EXAMPLE_V5)
    compact_call = ZOOM_COMPACT_CALL
    inline = True  # a crop: a few ms of Pillow

    def schema_json(self) -> str:
        return TOOL_SCHEMA_JSON  # DeepEyes' line verbatim, its "required":["bbox"] quirk included

    def call(self, context: ToolContext, arguments: Any) -> ToolResult:
        result = zoom(context.original, arguments, context.geometry, context.zoom)
        return ToolResult(
            image=result.crop,
            box_model=result.box_model,
            box_original=result.box_original,
            derivation="crop/" + ",".join(map(str, result.box_original)),
        )


class RotateArgs(BaseModel):
    """Arguments of ``image_rotate_tool``."""

    angle: int = Field(description="Counter-clockwise rotation in degrees, e.g. 90, 180 or 270.")


class RotateTool(VisualTool):
    """Rotate the ORIGINAL image counter-clockwise by ``angle`` degrees on the same canvas (Pillow's
    ``rotate(angle)``: a 90° turn of a landscape image leaves black bands), as DeepEyes does. Any number Pillow
    takes is executed (45.5 too); with ``deepeyes_parity`` off, booleans and infinite or NaN angles — which
    DeepEyes executes as a 1° turn and a black image — are refused."""

    name = ROTATE_TOOL_NAME
    description = (
        "Rotate the image counter-clockwise by an angle in degrees, keeping its size (the corners it uncovers are "
        "black). Use it when the image is sideways or upside down."
    )
    args_schema = RotateArgs
    purpose = "turn the image upright"
    examples = ('{"name": "image_rotate_tool", "arguments": {"angle": 90}}',)
    compact_call = '{"name": "image_rotate_tool", "arguments": {"angle": 90}}'
    inline = True

    def call(self, context: ToolContext, arguments: Any) -> ToolResult:
        try:
            angle = arguments["angle"]
        except (KeyError, TypeError, IndexError) as exc:
            raise ToolError(
                f"Error: {exc}", f"arguments without angle: {arguments!r:.200}", kind="invalid_arguments"
            ) from exc
        if not context.zoom.deepeyes_parity and (
            isinstance(angle, bool) or (isinstance(angle, float) and not math.isfinite(angle))
        ):
            raise ToolError(
                "Error: angle must be a finite number of degrees",
                f"angle {angle!r}: DeepEyes would turn the image",
                kind="invalid_arguments",
            )
        try:
            rotated = context.original.rotate(angle)
        except Exception as exc:  # Pillow's own text, as DeepEyes shows it
            raise ToolError(f"Error: {exc}", f"angle {angle!r:.100}: {exc}", kind="invalid_arguments") from exc
        return ToolResult(image=rotated, derivation=f"rotate/{angle!r}")

"""``image_zoom_in_tool`` as an ordinary LangChain tool, bound to one image (the toolbox's zoom, for someone else's
agent: LangChain's ``create_agent``, a prebuilt ``ToolNode``).

Usable in any LangChain/LangGraph agent: the ToolMessage content is the crop as a standard image
content block, the artifact carries the boxes. An invalid call returns DeepEyes' error text as the
tool output, so the agent can retry.
"""

from __future__ import annotations

from langchain_core.tools import StructuredTool
from PIL import Image

from ..protocol import TOOL_NAME, ZOOM_DESCRIPTION
from ..zoom import ZoomArgs, ZoomConfig, ZoomError, view_of, zoom
from .content import image_block


def make_zoom_tool(image: Image.Image, *, image_processor=None, config: ZoomConfig | None = None) -> StructuredTool:
    """A tool that crops ``image``. Boxes are read in ``config.frame``; the Qwen2.5 pixel frame needs the
    ``image_processor`` that produced the model's view (without one, the view is the original)."""
    geom, config = view_of(image.width, image.height, image_processor, config or ZoomConfig())

    def run(bbox_2d: list[float], label: str | None = None):
        try:
            result = zoom(image, {"bbox_2d": bbox_2d, "label": label}, geom, config)
        except ZoomError as exc:
            return exc.observation, {"error": exc.reason}
        artifact = {"box_model": list(result.box_model), "box_original": list(result.box_original), "crop": result.crop}
        return [image_block(result.crop)], artifact

    return StructuredTool.from_function(
        func=run,
        name=TOOL_NAME,
        description=ZOOM_DESCRIPTION,
        args_schema=ZoomArgs,
        response_format="content_and_artifact",
    )

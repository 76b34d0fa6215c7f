"""The zoom-in tool: map a box from the model's frame to the ORIGINAL image, validate, crop.

Frames (docs/fidelity.md; DeepEyes reads boxes as original pixels, docs/deepeyes.md):
- ``qwen2.5``: absolute pixels of the image the processor fed the model (smart-resized).
- ``qwen3``: a 0..1000 normalised frame.
- ``original``: pixels of the original image — what DeepEyes does (``deepeyes_parity``); right only
  while the original is under the processor's max_pixels.
After mapping, as in DeepEyes: clamp to the image, require a short side > ``min_side`` original
pixels and aspect ≤ ``max_aspect``, and crop the first (original) image at full resolution.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from PIL import Image
from pydantic import BaseModel, Field, StrictFloat, StrictInt, field_validator

from .errors import ToolError
from .protocol import ERR_INVALID_BOX


class CoordinateFrame(str, Enum):
    QWEN25_PIXELS = "qwen2.5"
    NORM_1000 = "qwen3"
    ORIGINAL = "original"


def frame_for_model_type(model_type: str) -> CoordinateFrame:
    """The frame a model family grounds in: Qwen3-VL uses 0..1000, Qwen2/2.5-VL absolute pixels."""
    return CoordinateFrame.NORM_1000 if model_type.startswith("qwen3") else CoordinateFrame.QWEN25_PIXELS


# A coordinate is a JSON number: an int or a float. Numeric strings ("40") and booleans are refused, as
# DeepEyes' arithmetic on them fails; ints of any size are kept (DeepEyes clamps them to the image).
Coordinate = StrictInt | StrictFloat
# |coordinate| beyond this is clamped before mapping: larger ints cannot become floats, and every image is
# far smaller, so the clamp to the image that follows gives what exact arithmetic gives.
_COORD_LIMIT = float(2**53)


class _BoxMarker:
    """Marks an argument as a box in the model's frame (see :data:`Box`)."""

    def __repr__(self) -> str:
        return "Box"


BOX_MARKER = _BoxMarker()
# A box argument of any tool, [x1, y1, x2, y2] in the frame the model grounds in: a tool function that declares
# ``region: Box`` receives it mapped to the ORIGINAL image's whole pixels (clamped), as the zoom does.
Box = Annotated[
    list[Coordinate],
    Field(min_length=4, max_length=4, description="[x1, y1, x2, y2]: top-left and bottom-right corners"),
    BOX_MARKER,
]


def is_box(annotation) -> bool:
    return typing.get_origin(annotation) is Annotated and BOX_MARKER in typing.get_args(annotation)[1:]


class ZoomArgs(BaseModel):
    """Arguments of ``image_zoom_in_tool`` (DeepEyes schema). The executor reads only ``bbox_2d``."""

    bbox_2d: list[Coordinate] = Field(
        ...,
        min_length=4,
        max_length=4,
        description="The bounding box of the region to zoom in, as [x1, y1, x2, y2], where (x1, y1) is the "
        "top-left corner and (x2, y2) is the bottom-right corner.",
    )
    label: str | None = Field(
        None, description="The name or label of the object in the specified bounding box (optional)."
    )

    @field_validator("bbox_2d")
    @classmethod
    def _finite(cls, v: list[int | float]) -> list[float]:
        if not all(isinstance(x, int) or math.isfinite(x) for x in v):
            raise ValueError("bbox_2d has a non-finite coordinate")
        return [float(max(-_COORD_LIMIT, min(_COORD_LIMIT, x))) for x in v]


class ZoomConfig(BaseModel):
    """How boxes are read and which crops are allowed."""

    frame: CoordinateFrame = CoordinateFrame.QWEN25_PIXELS
    deepeyes_parity: bool = Field(False, description="treat boxes as original-image pixels, as DeepEyes did")
    min_side: float = Field(30.0, description="the crop's short side must exceed this many ORIGINAL pixels")
    max_aspect: float = 100.0

    @property
    def effective_frame(self) -> CoordinateFrame:
        return CoordinateFrame.ORIGINAL if self.deepeyes_parity else self.frame


@dataclass(frozen=True)
class ViewGeometry:
    """The original image's size and the size of the view the model was fed."""

    width: int
    height: int
    view_width: int
    view_height: int

    @classmethod
    def for_image(cls, width: int, height: int, image_processor) -> ViewGeometry:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        factor = image_processor.patch_size * image_processor.merge_size
        size = image_processor.size
        min_px = size["shortest_edge"] if "shortest_edge" in size else size["min_pixels"]
        max_px = size["longest_edge"] if "longest_edge" in size else size["max_pixels"]
        vh, vw = smart_resize(height, width, factor=factor, min_pixels=min_px, max_pixels=max_px)
        return cls(width, height, vw, vh)


def view_of(width: int, height: int, image_processor, config: ZoomConfig) -> tuple[ViewGeometry, ZoomConfig]:
    """The model's view of a ``width``×``height`` image and the zoom config to read its boxes with.
    Without an ``image_processor`` the view is the original, so the Qwen2.5 pixel frame means original pixels."""
    if image_processor is not None:
        return ViewGeometry.for_image(width, height, image_processor), config
    if config.effective_frame is CoordinateFrame.QWEN25_PIXELS:
        config = config.model_copy(update={"frame": CoordinateFrame.ORIGINAL})
    return ViewGeometry(width, height, width, height), config


class ZoomError(ToolError):
    """An invalid zoom call: ``observation`` is DeepEyes' error text, ``reason`` says why for people."""

    def __init__(self, observation: str, reason: str):
        super().__init__(observation, reason, kind="invalid_arguments")


@dataclass
class ZoomResult:
    crop: Image.Image
    box_model: tuple[float, float, float, float]
    box_original: tuple[int, int, int, int]


def map_box(box: list[float], geom: ViewGeometry, frame: CoordinateFrame) -> tuple[float, float, float, float]:
    """A box in ``frame`` → original-image pixels (not yet clamped)."""
    x1, y1, x2, y2 = box
    if frame is CoordinateFrame.ORIGINAL:
        sx = sy = 1.0
    elif frame is CoordinateFrame.QWEN25_PIXELS:
        sx, sy = geom.width / geom.view_width, geom.height / geom.view_height
    else:
        sx, sy = geom.width / 1000.0, geom.height / 1000.0
    return x1 * sx, y1 * sy, x2 * sx, y2 * sy


def validate_box(
    box: tuple[float, float, float, float], geom: ViewGeometry, cfg: ZoomConfig
) -> tuple[int, int, int, int]:
    """Clamp to the image and apply DeepEyes' size rules; returns integer pixel bounds."""
    x1, y1, x2, y2 = box
    x1, y1 = max(0.0, x1), max(0.0, y1)
    x2, y2 = min(float(geom.width), x2), min(float(geom.height), y2)
    if not (x1 < x2 and y1 < y2):
        raise ZoomError(ERR_INVALID_BOX, f"empty box after clamping to the image: {box}")
    w, h = x2 - x1, y2 - y1
    if min(w, h) <= cfg.min_side:
        raise ZoomError(
            ERR_INVALID_BOX, f"box too small: {w:.0f}x{h:.0f} original px, short side must exceed {cfg.min_side:g}"
        )
    if max(w, h) / min(w, h) > cfg.max_aspect:
        raise ZoomError(ERR_INVALID_BOX, f"box aspect {max(w, h) / min(w, h):.0f}:1 exceeds {cfg.max_aspect:g}:1")
    ix1, iy1 = math.floor(x1), math.floor(y1)
    ix2, iy2 = min(geom.width, math.ceil(x2)), min(geom.height, math.ceil(y2))
    return ix1, iy1, ix2, iy2


def original_box(box: list[float], geom: ViewGeometry, cfg: ZoomConfig) -> tuple[int, int, int, int]:
    """A tool's box argument, from the model's frame to whole pixels of the ORIGINAL image, clamped to it (the zoom
    adds DeepEyes' size rules on top: :func:`validate_box`)."""
    values = [float(max(-_COORD_LIMIT, min(_COORD_LIMIT, v))) for v in box]
    if not all(math.isfinite(v) for v in values):
        raise ToolError("Error: the box has a non-finite coordinate", f"box {box!r}", kind="invalid_arguments")
    x1, y1, x2, y2 = map_box(values, geom, cfg.effective_frame)
    x1, y1 = max(0, math.floor(x1)), max(0, math.floor(y1))
    x2, y2 = min(geom.width, math.ceil(x2)), min(geom.height, math.ceil(y2))
    if not (x1 < x2 and y1 < y2):
        raise ToolError(
            f"Error: the box {box} is empty or outside the image",
            f"box {box!r} → {(x1, y1, x2, y2)}",
            kind="invalid_arguments",
        )
    return x1, y1, x2, y2


def zoom(image: Image.Image, arguments: Any, geom: ViewGeometry, cfg: ZoomConfig) -> ZoomResult:
    """Execute ``image_zoom_in_tool`` on the ORIGINAL image; raises :class:`ZoomError` on a bad call.

    Only ``bbox_2d`` is read (DeepEyes ignores ``label``, whatever its type). Arguments that are not an
    object, or lack ``bbox_2d``, get the Python error text DeepEyes shows (``Error: 'bbox_2d'``)."""
    try:
        bbox = arguments["bbox_2d"]
    except (KeyError, TypeError, IndexError) as exc:
        raise ZoomError(f"Error: {exc}", f"arguments without bbox_2d: {arguments!r:.200}") from exc
    try:
        args = ZoomArgs.model_validate({"bbox_2d": bbox})
    except Exception as exc:  # pydantic ValidationError: wrong arity, strings, booleans, NaN/inf
        raise ZoomError(ERR_INVALID_BOX, f"invalid bbox_2d {bbox!r:.200}: {_first_error(exc)}") from exc
    box_model = tuple(args.bbox_2d)
    bounds = validate_box(map_box(args.bbox_2d, geom, cfg.effective_frame), geom, cfg)
    try:
        crop = image.crop(bounds)
    except Image.DecompressionBombError as exc:  # an in-memory original beyond Pillow's pixel limit
        raise ZoomError(f"Error: {exc}", f"crop {bounds} refused: {exc}") from exc
    return ZoomResult(crop=crop, box_model=box_model, box_original=bounds)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        e = errors()[0]
        return f"{e.get('msg')}"
    return str(exc)

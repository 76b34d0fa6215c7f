"""The zoom tool: frames, clamping, size rules, errors, full-resolution crops, the LangChain tool."""

import math

import pytest
from PIL import Image

from deepeyes_agent.protocol import ERR_INVALID_BOX
from deepeyes_agent.tools import Toolbox, ToolContext, ToolError, make_zoom_tool
from deepeyes_agent.zoom import (
    CoordinateFrame,
    ViewGeometry,
    ZoomConfig,
    ZoomError,
    frame_for_model_type,
    map_box,
    zoom,
)

GEOM = ViewGeometry(width=2000, height=1500, view_width=504, view_height=378)


def test_qwen25_frame_maps_resized_pixels_to_original():
    # the model's view is 504x378; its box [126, 189, 252, 378] is the original's [500, 750, 1000, 1500]
    assert map_box([126, 189, 252, 378], GEOM, CoordinateFrame.QWEN25_PIXELS) == pytest.approx((500, 750, 1000, 1500))


def test_qwen3_frame_is_normalised_to_1000():
    assert map_box([250, 500, 500, 1000], GEOM, CoordinateFrame.NORM_1000) == pytest.approx((500, 750, 1000, 1500))


def test_deepeyes_parity_reads_original_pixels():
    cfg = ZoomConfig(frame=CoordinateFrame.QWEN25_PIXELS, deepeyes_parity=True)
    img = Image.new("RGB", (2000, 1500))
    res = zoom(img, {"bbox_2d": [100, 100, 300, 200]}, GEOM, cfg)
    assert res.box_original == (100, 100, 300, 200)


def test_view_geometry_follows_the_processor(processor):
    geom = ViewGeometry.for_image(2000, 1500, processor.image_processor)
    assert geom.view_width % 28 == 0 and geom.view_height % 28 == 0
    assert geom.view_width * geom.view_height <= 448 * 448
    assert abs(geom.view_width / geom.view_height - 2000 / 1500) < 0.1


def test_clamps_to_image():
    img = Image.new("RGB", (2000, 1500))
    res = zoom(img, {"bbox_2d": [-50, -20, 2600, 1700]}, GEOM, ZoomConfig(frame=CoordinateFrame.ORIGINAL))
    assert res.box_original == (0, 0, 2000, 1500)
    assert res.crop.size == (2000, 1500)


@pytest.mark.parametrize(
    "box, reason",
    [
        ([100, 100, 130, 400], "too small"),  # short side exactly 30 px: DeepEyes needs > 30
        ([100, 100, 100, 400], "empty"),  # zero width
        ([300, 100, 100, 400], "empty"),  # x2 < x1
        ([2100, 1600, 2300, 1800], "empty"),  # entirely outside the image
        ([0, 0, 1990, 29.9], "too small"),
    ],
)
def test_invalid_boxes_give_the_deepeyes_error(box, reason):
    img = Image.new("RGB", (2000, 1500))
    with pytest.raises(ZoomError) as err:
        zoom(img, {"bbox_2d": box}, GEOM, ZoomConfig(frame=CoordinateFrame.ORIGINAL))
    assert err.value.observation == ERR_INVALID_BOX
    assert reason in err.value.reason


def test_aspect_limit():
    img = Image.new("RGB", (20000, 200))
    geom = ViewGeometry(20000, 200, 20000, 200)
    with pytest.raises(ZoomError, match="aspect"):
        zoom(img, {"bbox_2d": [0, 0, 19000, 150]}, geom, ZoomConfig(frame=CoordinateFrame.ORIGINAL))


@pytest.mark.parametrize(
    "args",
    [
        {"bbox_2d": [math.nan, 0, 100, 100]},
        {"bbox_2d": [0, 0, math.inf, 100]},
        {"bbox_2d": [0, 0, 100]},
        {"bbox_2d": "0,0,100,100"},
        {"bbox_2d": [0, 0, "a", 100]},
    ],
)
def test_malformed_arguments(args):
    with pytest.raises(ZoomError) as err:
        zoom(Image.new("RGB", (2000, 1500)), args, GEOM, ZoomConfig())
    assert err.value.observation == ERR_INVALID_BOX


def test_missing_bbox_and_unknown_tool(store):
    # the toolbox is the one dispatcher: DeepEyes' texts for a call without bbox_2d and for a tool it does not hold
    context = ToolContext([store.put(Image.new("RGB", (2000, 1500)))], store, GEOM, ZoomConfig())
    with pytest.raises(ToolError) as err:
        Toolbox().execute("image_zoom_in_tool", {"label": "x"}, context)
    assert err.value.observation == "Error: 'bbox_2d'" and err.value.kind == "invalid_arguments"
    with pytest.raises(ToolError) as err:
        Toolbox().execute("image_rotate_tool", {"angle": 90}, context)
    assert err.value.observation == "Error: Unknown tool name: image_rotate_tool" and err.value.kind == "unknown_tool"


def test_crop_through_a_448_view_keeps_full_detail(processor, scene_path):
    original = Image.open(scene_path).convert("RGB")
    geom = ViewGeometry.for_image(original.width, original.height, processor.image_processor)
    sx, sy = geom.view_width / original.width, geom.view_height / original.height
    box_in_view = [900 * sx, 700 * sy, 1000 * sx, 800 * sy]  # what a model looking at the 448-px view emits
    res = zoom(original, {"bbox_2d": box_in_view}, geom, ZoomConfig())
    x1, y1, x2, y2 = res.box_original
    assert abs(x1 - 900) <= 1 and abs(y1 - 700) <= 1 and abs(x2 - 1000) <= 1 and abs(y2 - 800) <= 1
    # pixel-identical to the original region: the 2-px checkerboard survives (it cannot in the view)
    assert res.crop.tobytes() == original.crop(res.box_original).tobytes()
    assert res.crop.size == (x2 - x1, y2 - y1)


def test_langchain_tool_returns_an_image_block_and_errors_as_text():
    img = Image.new("RGB", (800, 600), "red")
    tool = make_zoom_tool(img)
    msg = tool.invoke(
        {"type": "tool_call", "id": "1", "name": "image_zoom_in_tool", "args": {"bbox_2d": [10, 10, 210, 110]}}
    )
    assert msg.content[0]["type"] == "image" and msg.content[0]["mime_type"] == "image/png"
    assert msg.artifact["box_original"] == [10, 10, 210, 110]
    bad = tool.invoke(
        {"type": "tool_call", "id": "2", "name": "image_zoom_in_tool", "args": {"bbox_2d": [10, 10, 20, 20]}}
    )
    assert bad.content == ERR_INVALID_BOX


def test_short_side_just_over_30_is_accepted():
    res = zoom(
        Image.new("RGB", (2000, 1500)), {"bbox_2d": [0, 0, 31, 400]}, GEOM, ZoomConfig(frame=CoordinateFrame.ORIGINAL)
    )
    assert res.crop.size == (31, 400)


def test_frame_follows_the_model_family():
    assert frame_for_model_type("qwen2_5_vl") is CoordinateFrame.QWEN25_PIXELS
    assert frame_for_model_type("qwen3_vl") is CoordinateFrame.NORM_1000

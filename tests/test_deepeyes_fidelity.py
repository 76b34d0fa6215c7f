"""Where the tool loop and the reward must do what DeepEyes' own code does (visual_toolbox_v2.py, vl_agent.py).

Each test is a regression test for a difference found by running DeepEyes' code side by side with this
library on the same inputs; the expected values are what DeepEyes produces (docs/deepeyes.md).
"""

import json

import pytest
from conftest import answer
from PIL import Image

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageError, ImageStore
from deepeyes_agent.judges import OptionJudge, Truth
from deepeyes_agent.parser import parse_turn
from deepeyes_agent.protocol import ERR_INVALID_BOX
from deepeyes_agent.rl.reward import compute_reward
from deepeyes_agent.trajectory import Trajectory
from deepeyes_agent.zoom import CoordinateFrame, ViewGeometry, ZoomConfig, ZoomError, zoom

PARITY = AgentConfig(zoom=ZoomConfig(deepeyes_parity=True))
TRUTH = Truth(answer="red", options=("blue", "red"), answer_index=1, question="Which colour?")
GEOM = ViewGeometry(2000, 1500, 2000, 1500)
ORIGINAL = ZoomConfig(frame=CoordinateFrame.ORIGINAL)


def _call(arguments) -> str:
    return f"<think>z</think><tool_call>{json.dumps({'name': 'image_zoom_in_tool', 'arguments': arguments})}</tool_call><|im_end|>"


def _episode(processor, store, scene_path, script) -> Trajectory:
    graph = create_visual_agent(ScriptedBackend(processor, script), config=PARITY, image_store=store)
    out = graph.invoke({"image": str(scene_path), "question": "q", "options": ["blue", "red"]})
    return Trajectory.from_state(out)


@pytest.mark.parametrize(
    "box", [["40", 40, 400, 400], [" 3250 ", 0, 400, 400], ["1_0", 0, 400, 400], [True, 0, 400, 400]]
)
def test_numeric_strings_and_booleans_are_not_coordinates(box):
    """pydantic would coerce "40" to 40.0; DeepEyes' arithmetic on a string fails → an error observation."""
    with pytest.raises(ZoomError) as err:
        zoom(Image.new("RGB", (2000, 1500)), {"bbox_2d": box}, GEOM, ORIGINAL)
    assert err.value.observation == ERR_INVALID_BOX


def test_a_box_of_numeric_strings_earns_no_tool_bonus(processor, store, scene_path):
    """The reward DeepEyes gives: 0.8 (right, no crop), not 2.0."""
    traj = _episode(processor, store, scene_path, [_call({"bbox_2d": ["40", "40", "400", "400"]}), answer("B")])
    assert traj.crops == 0 and traj.tool_errors == 1
    assert compute_reward(traj, TRUTH, OptionJudge()).total == pytest.approx(0.8)


@pytest.mark.parametrize("label", [5, True, ["a"], {"x": 1}, None])
def test_any_label_is_ignored_as_deepeyes_never_reads_it(processor, store, scene_path, label):
    traj = _episode(processor, store, scene_path, [_call({"bbox_2d": [40, 40, 400, 400], "label": label}), answer("B")])
    assert traj.crops == 1
    assert compute_reward(traj, TRUTH, OptionJudge()).total == pytest.approx(2.0)


def test_integers_beyond_float_range_are_clamped_to_the_image():
    res = zoom(Image.new("RGB", (2000, 1500)), {"bbox_2d": [-(10**400), 0, 10**400, 10**309]}, GEOM, ORIGINAL)
    assert res.box_original == (0, 0, 2000, 1500)


def test_an_empty_answer_does_not_end_the_episode(processor, store, scene_path):
    """DeepEyes tests ``if answer:`` — an empty string is false, so the tool call beside it runs."""
    first = '<think>z</think><answer></answer><tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [40, 40, 400, 400]}}</tool_call><|im_end|>'
    traj = _episode(processor, store, scene_path, [first, answer("B")])
    assert traj.crops == 1 and traj.turns == 2 and traj.answer == "B"


def test_a_blank_answer_still_ends_it():
    """``" "`` is truthy in DeepEyes: the episode ends, and the judged answer is the empty string."""
    turn = parse_turn("<answer> </answer><tool_call>{}</tool_call>")
    assert turn.answer == "" and turn.tool_call is None


def test_an_exactly_empty_tool_call_ends_the_episode_without_an_observation(processor, store, scene_path):
    traj = _episode(processor, store, scene_path, ["<think>z</think><tool_call></tool_call><|im_end|>"])
    assert traj.stop_reason == "empty_tool_call" and traj.turns == 1 and not traj.observations


def test_a_blank_tool_call_is_a_json_error_as_in_deepeyes():
    call = parse_turn("<tool_call> </tool_call>").tool_call
    assert call.error.startswith("Error: Invalid tool call format: . Error: Expecting value")


def test_nested_answer_tags_judge_the_innermost_text():
    assert parse_turn("<think>x</think><answer><answer>B</answer></answer>").answer == "B"


@pytest.mark.parametrize(
    "body, text",
    [
        ("[1, 2]", "Error: list indices must be integers or slices, not str"),
        ('"zoom"', "Error: string indices must be integers, not 'str'"),
        ("7", "Error: 'int' object is not subscriptable"),
        ("null", "Error: 'NoneType' object is not subscriptable"),
        ('{"arguments": {}}', "Error: 'name'"),
    ],
)
def test_json_that_is_not_a_call_gets_python_s_own_text(body, text):
    assert parse_turn(f"<tool_call>{body}</tool_call>").tool_call.error == text


@pytest.mark.parametrize(
    "arguments, text",
    [
        ([1, 2, 3, 4], "Error: list indices must be integers or slices, not str"),
        ({"bbox": [1, 2, 3, 4]}, "Error: 'bbox_2d'"),
    ],
)
def test_arguments_without_bbox_2d_get_python_s_own_text(arguments, text):
    with pytest.raises(ZoomError) as err:
        zoom(Image.new("RGB", (2000, 1500)), arguments, GEOM, ORIGINAL)
    assert err.value.observation == text


def test_a_crop_over_pillows_pixel_limit_is_an_error_observation(monkeypatch):
    """A caller's in-memory image can be larger than Pillow lets a crop be; the crop becomes DeepEyes'
    ``Error: …`` observation instead of an exception out of the episode."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)  # crops over 400k px are refused
    with pytest.raises(ZoomError) as err:
        zoom(Image.new("RGB", (2000, 1500)), {"bbox_2d": [0, 0, 1000, 1000]}, GEOM, ORIGINAL)
    assert err.value.observation.startswith("Error: Image size (1000000 pixels) exceeds limit")


def test_an_in_memory_image_over_the_limit_is_refused_at_the_door(monkeypatch, tmp_path):
    """The store could not read it back: the caller hears it when handing it over, not mid-episode."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)
    with pytest.raises(ImageError, match="in-memory image>: refused"):
        ImageStore(tmp_path).put(Image.new("RGB", (1000, 1000)))

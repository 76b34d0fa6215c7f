"""A toolbox, not one tool: DeepEyes' rotation, several calls a turn (visual_toolbox_v5), a user's own functions and
LangChain tools — through the graph, the trajectory, the reward — and the guarantees that the zoom alone is still
byte-for-byte DeepEyes, that a failing or slow tool is an observation, and that a caller cannot enable a tool."""

import json
import math

import pytest
from conftest import answer
from PIL import Image
from tool_fixtures import describe_size, enhance

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.judges import OptionJudge, Truth
from deepeyes_agent.protocol import COMPACT_SYSTEM_PROMPT, SYSTEM_PROMPT, TURN_PROMPT_V5, USER_SUFFIX
from deepeyes_agent.rl.reward import RewardConfig, compute_reward
from deepeyes_agent.tools import Toolbox, ToolContext, ToolError
from deepeyes_agent.trajectory import Trajectory
from deepeyes_agent.zoom import ViewGeometry, ZoomConfig

# visual_toolbox_v5's system prompt (DeepEyes' prompt.py, SYSTEM_PROMPT_V5), verbatim
SYSTEM_PROMPT_V5 = (
    "You are a helpful assistant.\n\n# Tools\nYou are provided with function signatures within <tools></tools> XML "
    'tags:\n<tools>\n{"type":"function","function":{"name":"image_zoom_in_tool","description":"Zoom in on a specific '
    'region of an image by cropping it based on a bounding box (bbox) and an optional object label.","parameters":'
    '{"type":"object","properties":{"bbox_2d":{"type":"array","items":{"type":"number"},"minItems":4,"maxItems":4,'
    '"description":"The bounding box of the region to zoom in, as [x1, y1, x2, y2], where (x1, y1) is the top-left '
    'corner and (x2, y2) is the bottom-right corner."},"label":{"type":"string","description":"The name or label of '
    'the object in the specified bounding box (optional)."}},"required":["bbox"]}}}\n</tools>\n\n# How to call a tool\n'
    "Return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n\nYou may call **one or more** '
    "functions to assist with the user query.\n**Example**:  \n<tool_call>  \n"
    '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [10, 20, 100, 200], "label": "the apple on the desk"}}  '
    "\n</tool_call>\n<tool_call>  \n"
    '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [8, 40, 50, 150], "label": "the person under the tree"}}  '
    "\n</tool_call>"
)
TRUTH = Truth(answer="red", options=("blue", "red"), answer_index=1, question="Which colour?")


def call(name: str, arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def turn(*calls: str) -> str:
    return "<think>look</think>\n" + "\n".join(calls) + "<|im_end|>"


def episode(processor, store, scene_path, script, **kwargs) -> Trajectory:
    tools = kwargs.pop("tools", None)
    config = AgentConfig(**kwargs)
    graph = create_visual_agent(ScriptedBackend(processor, script), config=config, tools=tools, image_store=store)
    out = graph.invoke({"image": str(scene_path), "question": "Which colour?", "options": ["blue", "red"]})
    return Trajectory.from_state(out)


def context(image: Image.Image, store, parity: bool = False) -> ToolContext:
    ref = store.put(image)
    return ToolContext([ref], store, ViewGeometry(*image.size, *image.size), ZoomConfig(deepeyes_parity=parity))


# -- the zoom alone is DeepEyes ---------------------------------------------------------------------------------------


def test_with_the_zoom_alone_every_prompt_is_deepeyes_byte_for_byte():
    assert Toolbox().system_prompt == SYSTEM_PROMPT and Toolbox().user_suffix == USER_SUFFIX
    assert Toolbox(prompt_style="compact").system_prompt == COMPACT_SYSTEM_PROMPT
    v5 = Toolbox(max_calls_per_turn=3)
    assert v5.system_prompt == SYSTEM_PROMPT_V5 and v5.user_suffix == TURN_PROMPT_V5


def test_the_prompt_lists_exactly_the_enabled_tools():
    box = Toolbox(["zoom", "rotate", "tool_fixtures:enhance"])
    prompt = box.system_prompt
    schemas = prompt.split("<tools>\n")[1].split("\n</tools>")[0].splitlines()
    assert [json.loads(s)["function"]["name"] for s in schemas] == [
        "image_zoom_in_tool",
        "image_rotate_tool",
        "enhance",
    ]
    enhance_schema = json.loads(schemas[2])["function"]
    assert enhance_schema["description"] == "Raise the contrast of a region of the image, to read faint detail."
    assert set(enhance_schema["parameters"]["properties"]) == {"region", "factor"}  # `image` is the agent's to fill
    assert "**image_zoom_in_tool**, **image_rotate_tool** or **enhance**" in box.user_suffix
    compact = Toolbox(["zoom", "rotate"], prompt_style="compact").system_prompt
    assert compact.startswith(COMPACT_SYSTEM_PROMPT) and "To turn the image upright, call the tool" in compact


# -- rotation, as DeepEyes executes it --------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [90, 180, 270, -90, 45.5, 10**30])
def test_rotate_turns_the_original_counter_clockwise_on_the_same_canvas(angle, store):
    image = Image.new("RGB", (120, 80), "white")
    image.paste((255, 0, 0), (0, 0, 20, 20))  # a red corner, top left
    result = Toolbox(["rotate"]).execute("image_rotate_tool", {"angle": angle}, context(image, store))
    assert result.image.size == image.size and result.image.tobytes() == image.rotate(angle).tobytes()
    assert result.box_original is None


@pytest.mark.parametrize(
    "arguments, says",
    [
        ({}, "Error: 'angle'"),
        ({"degrees": 90}, "Error: 'angle'"),
        ([90], "Error: list indices must be integers or slices, not str"),
        ("90", "Error: string indices must be integers, not 'str'"),
        ({"angle": "90"}, "Error: not all arguments converted during string formatting"),
        ({"angle": None}, "Error: unsupported operand type(s) for %: 'NoneType' and 'float'"),
        ({"angle": [90]}, "Error: unsupported operand type(s) for %: 'list' and 'float'"),
    ],
)
def test_rotate_errors_are_deepeyes_texts(arguments, says, store):
    """Arguments read as visual_toolbox_v2 reads them (``args["angle"]``, then Pillow's ``rotate``): its texts."""
    image = Image.new("RGB", (60, 40))
    for parity in (False, True):
        with pytest.raises(ToolError) as err:
            Toolbox(["rotate"]).execute("image_rotate_tool", arguments, context(image, store, parity))
        assert err.value.observation == says


@pytest.mark.parametrize("angle", [True, float("nan"), float("inf")])
def test_booleans_and_non_finite_angles_are_refused_unless_deepeyes_parity(angle, store):
    image = Image.new("RGB", (60, 40), "white")
    with pytest.raises(ToolError, match="DeepEyes would turn"):
        Toolbox(["rotate"]).execute("image_rotate_tool", {"angle": angle}, context(image, store))
    parity = Toolbox(["rotate"]).execute("image_rotate_tool", {"angle": angle}, context(image, store, True))
    assert parity.image.tobytes() == image.rotate(angle).tobytes()  # what DeepEyes shows the model


def test_deepeyes_parity_executes_rotate_though_the_prompt_never_offers_it(processor, store, scene_path):
    script = [turn(call("image_rotate_tool", {"angle": 90})), answer("B")]
    plain = episode(processor, store, scene_path, script)
    assert plain.observations[0].error == "Error: Unknown tool name: image_rotate_tool"
    parity = episode(processor, store, scene_path, script, zoom=ZoomConfig(deepeyes_parity=True))
    rotated = parity.observations[0]
    assert rotated.tool == "image_rotate_tool" and rotated.image is not None and rotated.error is None
    assert "image_rotate_tool" not in SYSTEM_PROMPT
    assert compute_reward(parity, TRUTH, OptionJudge()).total == pytest.approx(2.0)  # an image observation: bonus


# -- several calls a turn: visual_toolbox_v5 --------------------------------------------------------------------------


def test_three_calls_in_a_turn_get_v5s_observation_layout(processor, store, scene_path):
    boxes = [[10, 10, 200, 200], [100, 100, 300, 300], [50, 60, 250, 260], [0, 0, 90, 90]]
    script = [turn(*(call("image_zoom_in_tool", {"bbox_2d": b}) for b in boxes)), answer("B")]
    traj = episode(processor, store, scene_path, script, max_calls_per_turn=3)
    obs = traj.observations
    assert len(obs) == 3 and traj.crops == 3  # the first three calls (v5 caps a turn at three)
    assert [o.box_model for o in obs] == [[float(v) for v in b] for b in boxes[:3]]
    assert [c["arguments"]["bbox_2d"] for c in traj.actions[0].tool_calls] == boxes[:3]
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text = processor.tokenizer.decode([t for o in obs for t in o.token_ids if t != pad])
    response = "<tool_response>\n<|vision_start|><|vision_end|>\n</tool_response>\n"
    assert text == "\n<|im_start|>user\n" + response * 3 + TURN_PROMPT_V5 + "<|im_end|>\n<|im_start|>assistant\n"
    assert traj.images == [traj.images[0], *(o.image for o in obs)]  # sequence order: the original, then each crop


def test_one_call_a_turn_runs_the_last_call_as_deepeyes_v2(processor, store, scene_path):
    script = [turn(call("image_zoom_in_tool", {"bbox_2d": [10, 10, 200, 200]}), call("image_zoom_in_tool", {"bbox_2d": [100, 100, 300, 300]})), answer("B")]  # fmt: skip
    traj = episode(processor, store, scene_path, script)
    assert len(traj.observations) == 1 and traj.observations[0].box_model == [100.0, 100.0, 300.0, 300.0]


# -- a user's own tools -----------------------------------------------------------------------------------------------


def test_a_decorated_function_runs_through_the_graph_trajectory_and_reward(processor, store, scene_path):
    script = [turn(call("enhance", {"region": [900, 700, 1000, 800], "factor": 3})), answer("B")]
    traj = episode(processor, store, scene_path, script, tools=["zoom", enhance], zoom=ZoomConfig(frame="original"))
    obs = traj.observations[0]
    assert obs.tool == "enhance" and obs.error is None and obs.image is not None
    assert store.get(obs.image).size == (100, 100)  # the Box arrived in original pixels
    assert traj.calls_by_tool() == {"enhance": 1}
    assert compute_reward(traj, TRUTH, OptionJudge()).tool == 1.0  # an image observation earns the bonus
    zoom_only = RewardConfig(bonus_tools=["image_zoom_in_tool"])
    assert compute_reward(traj, TRUTH, OptionJudge(), zoom_only).tool == 0.0  # … unless it is not a bonus tool


def test_a_tools_box_is_read_in_the_models_frame_like_the_zooms(processor, store, scene_path):
    """In the Qwen2.5 frame the box is in pixels of the processor's view: mapped to the original as the zoom maps."""
    script = [turn(call("count_pixels", {"region": [0, 0, 112, 112]})), answer("B")]
    traj = episode(processor, store, scene_path, script, tools=["tool_fixtures:count_pixels"])
    original = Image.open(scene_path)
    geom = ViewGeometry.for_image(original.width, original.height, processor.image_processor)
    width, height = math.ceil(112 * geom.width / geom.view_width), math.ceil(112 * geom.height / geom.view_height)
    assert traj.observations[0].text == f"{width}x{height} pixels at (0, 0)" and traj.observations[0].image is None
    assert compute_reward(traj, TRUTH, OptionJudge()).tool == 0.0  # a text observation shows no image


def test_a_langchain_tool_gets_the_image_injected_and_returns_content_blocks(processor, store, scene_path):
    script = [turn(call("describe_size", {"detail": "size"})), answer("B")]
    traj = episode(processor, store, scene_path, script, tools=[describe_size])
    obs = traj.observations[0]
    assert obs.tool == "describe_size" and obs.text == "size: 2000x1500"
    assert store.get(obs.image).size == (500, 375)
    schema = json.loads(Toolbox([describe_size]).system_prompt.split("<tools>\n")[1].splitlines()[0])
    assert set(schema["function"]["parameters"]["properties"]) == {"detail"}  # the injected image is not the model's


@pytest.mark.parametrize(
    "tool, says", [("tool_fixtures:broken", "Error: the detector is offline"), ("tool_fixtures:slow", "took longer")]
)
def test_a_tool_that_raises_or_times_out_is_an_error_observation(tool, says, processor, store, scene_path):
    name = tool.split(":")[1]
    script = [turn(call(name, {})), answer("B")]
    traj = episode(processor, store, scene_path, script, tools=["zoom", tool])
    assert says in traj.observations[0].error and traj.answer == "B"  # the episode went on


def test_a_call_can_never_name_an_import_path_or_a_tool_the_server_did_not_enable(processor, store, scene_path):
    """The served graph's input has no tool setting, and a call is looked up among the enabled tools only."""
    script = [turn(call("tool_fixtures:broken", {})), turn(call("os:system", {"command": "true"})), answer("B")]
    graph = create_visual_agent(
        ScriptedBackend(processor, script), tools=["zoom"], allow_local_paths=False, image_store=store
    )
    data_url = "data:image/png;base64," + __import__("base64").b64encode(open(scene_path, "rb").read()).decode()
    out = graph.invoke({"image": data_url, "question": "q", "tools": ["tool_fixtures:broken"], "max_calls_per_turn": 3})
    errors = [o.error for o in Trajectory.from_state(out).observations]
    assert errors == ["Error: Unknown tool name: tool_fixtures:broken", "Error: Unknown tool name: os:system"]


def test_the_served_graph_takes_its_tools_from_the_servers_environment(monkeypatch):
    from deepeyes_agent.graphs.served import server_tools

    monkeypatch.setenv("DEEPEYES_AGENT_TOOLS", "zoom, rotate")
    assert server_tools() == ["zoom", "rotate"]
    monkeypatch.delenv("DEEPEYES_AGENT_TOOLS")
    assert server_tools() is None


def test_a_tool_sees_only_its_episodes_images(store):
    image = Image.new("RGB", (60, 40))
    other = store.put(Image.new("RGB", (10, 10), "blue"))
    ctx = context(image, store)
    with pytest.raises(ToolError, match="not an image of this episode"):
        ctx.image(other)


def test_a_chat_model_binds_the_same_tools(store, scene_path):
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class ToolCallingFake(GenericFakeChatModel):
        bound: list = []

        def bind_tools(self, tools, **kwargs):
            type(self).bound = tools
            return self

    replies = iter([AIMessage("", tool_calls=[{"name": "image_rotate_tool", "args": {"angle": 180}, "id": "1"}]),
                    AIMessage("<think>upright now</think><answer>red</answer>")])  # fmt: skip
    graph = create_visual_agent(ToolCallingFake(messages=replies), tools=["zoom", "rotate"], image_store=store)
    traj = Trajectory.from_state(graph.invoke({"image": str(scene_path), "question": "Which colour?"}))
    assert [t["function"]["name"] for t in ToolCallingFake.bound] == ["image_zoom_in_tool", "image_rotate_tool"]
    assert traj.observations[0].tool == "image_rotate_tool" and traj.observations[0].image is not None
    assert traj.answer == "red"


def test_unknown_tool_specs_are_refused_with_what_exists():
    from deepeyes_agent.errors import InputError

    with pytest.raises(InputError, match="zoom, rotate, or an import path"):
        Toolbox(["crop"])
    with pytest.raises(InputError, match="cannot be imported"):
        Toolbox(["no_such_module:tool"])


def test_the_command_line_takes_a_tool_list(tiny_dir, tmp_path, monkeypatch, capsys):
    from test_device import run_cli

    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "images"))
    trace = tmp_path / "t.json"
    code, err = run_cli(
        monkeypatch, capsys, "ask", "examples/images/signs.png", "q", "--model", tiny_dir, "--max-new-tokens", "8",
        "--tools", "zoom,rotate,tool_fixtures:enhance", "--max-calls-per-turn", "2", "--save-json", trace,
    )  # fmt: skip
    assert code in (0, None), err
    code, err = run_cli(
        monkeypatch, capsys, "ask", "examples/images/signs.png", "q", "--model", tiny_dir, "--tools", "crop"
    )
    assert code == 2 and "unknown tool 'crop'" in err
    from deepeyes_agent.eval.runner import EvalConfig

    assert EvalConfig(data="x", out="y", tools=["zoom", "rotate"]).agent_overrides() == {"tools": ["zoom", "rotate"]}

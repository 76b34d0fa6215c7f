"""Fuzzed model output through parser → zoom tool → graph → reward: every episode ends in a recorded
error observation or a final answer, and the reward is one of the DeepEyes values.

Default: a few hundred cases. Nightly size: DEEPEYES_FUZZ_EXAMPLES=10000 python -m pytest tests/test_fuzz.py
"""

import json
import os
from typing import get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepeyes_agent.backends import SamplingParams, ScriptedBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.judges import OptionJudge, Truth
from deepeyes_agent.rl.reward import compute_reward
from deepeyes_agent.trajectory import StopReason, Trajectory

EXAMPLES = int(os.environ.get("DEEPEYES_FUZZ_EXAMPLES", "200"))
TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<tool_call>", "</tool_call>", "<|im_end|>", "<tool_response>"]
numbers = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True), st.just(1e308), st.integers(0, 600)
)
box = st.lists(numbers, min_size=0, max_size=6)


def _json_number(x):
    return json.dumps(x)  # NaN/Infinity come out as non-standard JSON tokens, as a model might write them


@st.composite
def tool_calls(draw):
    kind = draw(st.sampled_from(["good", "python", "trailing", "unknown", "missing", "noargs", "weird"]))
    b = "[" + ", ".join(_json_number(v) for v in draw(box)) + "]"
    name = (
        draw(st.sampled_from(["image_zoom_in_tool", "image_rotate_tool", "", "zoom"]))
        if kind == "unknown"
        else "image_zoom_in_tool"
    )
    body = {
        "good": f'{{"name": "{name}", "arguments": {{"bbox_2d": {b}}}}}',
        "python": f"{{'name': '{name}', 'arguments': {{'bbox_2d': {b}}}}}",
        "trailing": f'{{"name": "{name}", "arguments": {{"bbox_2d": {b}}}}} }}garbage',
        "unknown": f'{{"name": "{name}", "arguments": {{"bbox_2d": {b}}}}}',
        "missing": f'{{"name": "{name}", "arguments": {{"label": "x"}}}}',
        "noargs": f'{{"name": "{name}"}}',
        "weird": draw(st.text(max_size=40)),
    }[kind]
    return f"<tool_call>{body}</tool_call>"


turns = st.lists(
    st.one_of(
        tool_calls(),
        st.text(max_size=60),
        st.sampled_from(TAGS),
        st.builds(
            lambda a: f"<answer>{a}</answer>", st.one_of(st.sampled_from(["A", "B", "red", ""]), st.text(max_size=30))
        ),
        st.just("<answer>" + "long " * 2000 + "</answer>"),
    ),
    max_size=6,
).map("".join)
episode = st.lists(st.tuples(turns, st.booleans()), min_size=1, max_size=6)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(episode)
def test_fuzzed_episodes_end_cleanly(processor, store, scene_path, turns_and_ends):
    script = [t + ("<|im_end|>" if end else "") for t, end in turns_and_ends]
    config = AgentConfig(sampling=SamplingParams(max_tokens=3000))
    graph = create_visual_agent(
        ScriptedBackend(processor, lambda req, i: script[min(i, len(script) - 1)]), config=config, image_store=store
    )
    out = graph.invoke({"image": str(scene_path), "question": "Which?", "options": ["red", "blue"]})
    traj = Trajectory.from_state(out)
    assert traj.stop_reason in get_args(StopReason)
    assert 1 <= traj.turns <= 5
    for obs in traj.observations:  # every tool call ended in a crop or a recorded error
        assert (obs.image is None) != (obs.error is None)
        assert obs.error is None or (obs.error.startswith("Error: ") and obs.reason)
    if traj.stop_reason == "answer":
        assert out["answer"] == traj.answer
    parts = compute_reward(traj, Truth("red", ("red", "blue"), 0, "Which?"), OptionJudge())
    assert round(parts.total, 6) in {2.0, 1.8, 0.8, 0.6, 0.0, -0.2}
    assert (parts.tool == 1.0) == (parts.accuracy == 1.0 and traj.crops > 0)

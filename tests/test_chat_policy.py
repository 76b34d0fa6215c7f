"""Any LangChain chat model as the policy: same graph, protocol, parser and zoom tool; crops go back
as image content blocks; the trajectory has the token backend's shape without token ids."""

from __future__ import annotations

import asyncio

import pytest
from conftest import answer, tool_call
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.trajectory import Trajectory

SCRIPT = [tool_call([10, 10, 60, 60]), tool_call([30, 20, 90, 70]), answer("red")]


class Recorder(BaseCallbackHandler):
    def __init__(self):
        self.calls = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls.append(messages[0])


def shape(traj: Trajectory) -> list:
    return [
        (s.kind, getattr(s, "text", None), getattr(s, "box_original", None), getattr(s, "error", None))
        for s in traj.segments
    ] + [traj.answer, traj.stop_reason, traj.crops, len(traj.images)]


def chat_model(texts, recorder=None):
    return FakeMessagesListChatModel(
        responses=[AIMessage(t.removesuffix("<|im_end|>")) for t in texts], callbacks=[recorder] if recorder else None
    )


def test_two_crop_episode_matches_the_token_backend(processor, scene_path):
    config = AgentConfig(max_turns=4)
    inputs = {"image": str(scene_path), "question": "What colour is the square?"}
    token = create_visual_agent(ScriptedBackend(processor, SCRIPT), config=config).invoke(inputs)
    recorder = Recorder()
    # the same view geometry as the token model (pass its processor), so boxes map alike
    chat = create_visual_agent(model=chat_model(SCRIPT, recorder), processor=processor, config=config).invoke(inputs)
    t_traj, c_traj = Trajectory.from_state(token), Trajectory.from_state(chat)
    strip = lambda rows: (
        [
            (k, t.removesuffix("<|im_end|>") if t else t, b, e)
            if isinstance(k, str) and k in ("action", "observation")
            else k
            for k, t, b, e in rows[:-4]
        ]
        + rows[-4:]
    )  # noqa: E731
    assert strip(shape(c_traj)) == strip(shape(t_traj))
    assert c_traj.crops == 2 and chat["answer"] == "red"
    assert c_traj.input_ids() == []  # no token ids: RL needs a token backend
    # the third call saw: system, user (image + question), then per crop an AI turn and a user turn with the crop
    third = recorder.calls[2]
    kinds = [m.type for m in third]
    assert kinds == ["system", "human", "ai", "human", "ai", "human"]
    crop_turn = third[3].content
    assert crop_turn[0]["text"] == "<tool_response>" and crop_turn[1]["type"] in ("image", "image_url")


def test_native_tool_calls_are_read_like_deepeyes_tool_calls(scene_path):
    call = AIMessage(
        "<think>look closer</think>",
        tool_calls=[{"name": "image_zoom_in_tool", "id": "1", "args": {"bbox_2d": [900, 700, 1000, 800]}}],
    )
    model = FakeMessagesListChatModel(responses=[call, AIMessage("<think>ok</think>\n<answer>red</answer>")])
    out = asyncio.run(create_visual_agent(model=model).ainvoke({"image": str(scene_path), "question": "Colour?"}))
    traj = Trajectory.from_state(out)
    assert traj.crops == 1 and out["answer"] == "red"
    assert traj.observations[0].box_original == [900, 700, 1000, 800]  # original-pixel frame without a processor


def test_the_policy_must_be_a_folder_a_token_backend_or_a_chat_model(processor):
    with pytest.raises(TypeError, match="a model folder, a token-level backend or a LangChain chat model"):
        create_visual_agent(model=object())


def test_rl_refuses_a_chat_model_graph(scene_path, tmp_path):
    from deepeyes_agent.judges import OptionJudge
    from deepeyes_agent.rl.reward import RewardConfig
    from deepeyes_agent.rl.rollout import collect
    from deepeyes_agent.rows import EvalRow

    graph = create_visual_agent(model=chat_model([answer("red")]))
    row = EvalRow(
        id="1",
        line=1,
        image=scene_path,
        question="Colour?",
        options=("red", "blue"),
        answer_index=0,
        category="attribute",
    )
    with pytest.raises(TypeError, match="token-level backend"):
        collect(graph, [row], 1, OptionJudge(), RewardConfig())

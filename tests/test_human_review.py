"""Human in the loop: with approve_zooms the graph stops before each crop; Command(resume=...) approves,
edits the box, or rejects the zoom."""

from __future__ import annotations

import pytest
from conftest import answer, tool_call
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.graphs import create_visual_agent
from deepeyes_agent.trajectory import Trajectory

SCRIPT = [tool_call([10, 10, 60, 60]), tool_call([20, 20, 80, 80]), answer("red")]


def test_approve_edit_and_reject(processor, store, scene_path):
    graph = create_visual_agent(
        ScriptedBackend(processor, SCRIPT), image_store=store, checkpointer=InMemorySaver(), approve_zooms=True
    )
    thread = {"configurable": {"thread_id": "review"}}
    out = graph.invoke({"image": str(scene_path), "question": "What colour?"}, thread)
    proposal = out["__interrupt__"][0].value
    assert proposal["tool_call"]["arguments"]["bbox_2d"] == [10, 10, 60, 60]
    out = graph.invoke(Command(resume={"bbox_2d": [30, 30, 90, 90]}), thread)  # edit the first box
    assert out["__interrupt__"][0].value["turn"] == 2
    out = graph.invoke(Command(resume=False), thread)  # reject the second
    traj = Trajectory.from_state(out)
    first, second = traj.observations
    assert first.review == "edited" and first.box_model == [30, 30, 90, 90] and first.image is not None
    assert second.review == "rejected" and second.image is None and "rejected" in second.error
    assert out["answer"] == "red" and traj.crops == 1


def test_review_needs_a_checkpointer(processor):
    with pytest.raises(ValueError, match="checkpointer"):
        create_visual_agent(ScriptedBackend(processor, SCRIPT), approve_zooms=True)

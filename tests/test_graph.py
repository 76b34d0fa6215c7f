"""The visual agent graph: token faithfulness, malformed output, bounds, messages input, persistence."""

import asyncio
import sqlite3

import pytest
import torch
from conftest import answer, tool_call
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from deepeyes_agent.backends import SamplingParams, ScriptedBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models.forward import score_tokens
from deepeyes_agent.trajectory import Trajectory

QUESTION = "What is inside the red square?"


def run(graph, scene_path, **extra):
    out = graph.invoke({"image": str(scene_path), "question": QUESTION, **extra})
    return out, Trajectory.from_state(out)


def test_three_turns_two_crops_are_token_faithful(backend, processor, store, scene_path):
    """Re-scoring the whole trajectory in one forward pass (mRoPE over all 3 images) reproduces the
    rollout logprobs of every action token."""
    script = [
        tool_call([200, 150, 260, 210]),
        tool_call([190, 140, 300, 250], think="closer"),
        answer("a checkerboard"),
    ]
    graph = create_visual_agent(ScriptedBackend(processor, script, model=backend), image_store=store)
    out, traj = run(graph, scene_path)
    assert out["answer"] == "a checkerboard" and traj.stop_reason == "answer"
    assert (traj.turns, traj.crops, len(traj.images)) == (3, 2, 3)
    ids = traj.input_ids()
    assert ids == traj.prompt_ids + [t for s in traj.segments for t in s.token_ids]
    scored = score_tokens(backend.model, processor, ids, [store.get(r) for r in traj.images])
    mask = torch.tensor(traj.action_mask(), dtype=torch.bool)
    rollout = torch.tensor(traj.rollout_logprobs())
    assert mask.sum() == sum(len(a.token_ids) for a in traj.actions)
    assert (scored[mask] - rollout[mask]).abs().max() < 1e-3
    # observation tokens (incl. the crops' pads) are never actions
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert all(m == 0 for t, m in zip(ids, traj.action_mask()) if t == pad)


def test_crops_come_from_the_original_at_full_resolution(processor, store, scene_path):
    graph = create_visual_agent(
        ScriptedBackend(processor, [tool_call([200, 150, 260, 210]), answer("x")]), image_store=store
    )
    _, traj = run(graph, scene_path)
    obs = traj.observations[0]
    x1, y1, x2, y2 = obs.box_original
    assert store.get(obs.image).size == (x2 - x1, y2 - y1)
    assert (x2 - x1) > 200  # a 60-px box in the ~448-px view is ~240 px of the 2000-px original


MALFORMED = {
    "bad json": (
        "<tool_call>{'name': 'image_zoom_in_tool', 'arguments': {'bbox_2d': [1,2,3,4]}}</tool_call>",
        "Error: Invalid tool call format",
    ),
    "trailing garbage": (
        '<tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [10, 10, 200, 200]}} xx</tool_call>',
        "Error: Invalid tool call format",
    ),
    "unknown tool": (
        '<tool_call>{"name": "image_rotate_tool", "arguments": {"angle": 90}}</tool_call>',
        "Error: Unknown tool name",
    ),
    "missing bbox": (
        '<tool_call>{"name": "image_zoom_in_tool", "arguments": {"label": "x"}}</tool_call>',
        "Error: 'bbox_2d'",
    ),
    "reversed box": (tool_call([300, 300, 100, 100]), "Error: ZOOM IN ARGUMENTS ARE INVALID"),
    "tiny box": (tool_call([100, 100, 102, 102]), "Error: ZOOM IN ARGUMENTS ARE INVALID"),
    "outside": (tool_call([5000, 5000, 6000, 6000]), "Error: ZOOM IN ARGUMENTS ARE INVALID"),
    "huge numbers": (tool_call([1e308, -1e308, 1e308, 1e308]), "Error: ZOOM IN ARGUMENTS ARE INVALID"),
    "nan": (
        '<tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [NaN, 1, 2, 3]}}</tool_call>',
        "Error: ZOOM IN ARGUMENTS ARE INVALID",
    ),
    "arguments not an object": (
        '<tool_call>{"name": "image_zoom_in_tool", "arguments": [1, 2]}</tool_call>',
        "Error: list indices must be integers",
    ),  # DeepEyes: args["bbox_2d"] on a list
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_tool_calls_become_error_observations(case, processor, store, scene_path):
    turn, expected = MALFORMED[case]
    turn = turn if turn.endswith("<|im_end|>") else turn + "<|im_end|>"
    graph = create_visual_agent(ScriptedBackend(processor, [turn, answer("A")]), image_store=store)
    out, traj = run(graph, scene_path)
    obs = traj.observations[0]
    assert obs.error.startswith(expected) and obs.reason and obs.image is None
    assert (
        processor.tokenizer.decode(obs.token_ids)
        == f"\n<|im_start|>user\n{obs.error}<|im_end|>\n<|im_start|>assistant\n"
    )
    assert out["answer"] == "A" and traj.tool_errors == 1 and traj.crops == 0  # the episode went on


@pytest.mark.parametrize(
    "turn, stop",
    [
        ("<|im_end|>", "empty"),
        ("  \n<|im_end|>", "empty"),
        ("I believe it is red.<|im_end|>", "no_tool_call"),
        ("<think>unclosed " + "word " * 600, "length"),
        ("<answer>" + "red " * 260 + "</answer><|im_end|>", "answer"),
    ],
)
def test_other_malformed_turns_end_with_a_recorded_reason(turn, stop, processor, store, scene_path):
    config = AgentConfig(sampling=SamplingParams(max_tokens=400))
    graph = create_visual_agent(ScriptedBackend(processor, [turn]), config=config, image_store=store)
    _, traj = run(graph, scene_path)
    assert traj.stop_reason == stop and traj.turns == 1
    if stop == "answer":
        assert traj.actions[0].format_errors  # over-long answer is reported for the reward


def test_max_turns_bounds_the_episode(processor, store, scene_path):
    graph = create_visual_agent(
        ScriptedBackend(processor, lambda req, turn: tool_call([100, 100, 200, 200])),
        config=AgentConfig(max_turns=5),
        image_store=store,
    )
    _, traj = run(graph, scene_path)
    assert traj.stop_reason == "max_turns" and traj.turns == 5 and traj.crops == 4


def test_context_budget_stops_without_appending(processor, store, scene_path):
    graph = create_visual_agent(
        ScriptedBackend(processor, lambda req, turn: tool_call([100, 100, 200, 200])),
        config=AgentConfig(max_context_tokens=1200),
        image_store=store,
    )
    _, traj = run(graph, scene_path)
    assert traj.stop_reason == "context_budget" and traj.truncated
    assert len(traj.input_ids()) < 1200


def test_messages_input_with_an_image_block(processor, store, scene_path):
    import base64

    data = base64.b64encode(scene_path.read_bytes()).decode()
    msg = HumanMessage(
        content=[{"type": "image", "base64": data, "mime_type": "image/png"}, {"type": "text", "text": QUESTION}]
    )
    graph = create_visual_agent(ScriptedBackend(processor, [answer("checkerboard")]), image_store=store)
    out = graph.invoke({"messages": [msg]})
    traj = Trajectory.from_state(out)
    assert out["messages"][-1].content == "checkerboard" and traj.question == QUESTION
    assert traj.images[0].startswith("sha256:")


def test_the_graph_shows_callers_only_its_input_and_output_keys(processor, store, scene_path):
    """Internal keys (``pending_call``, the resolved image) stay inside, as with ``create_agent``."""
    graph = create_visual_agent(ScriptedBackend(processor, [answer("x")]), image_store=store)
    assert set(graph.get_input_jsonschema()["properties"]) == {"messages", "image", "question", "options", "seed"}
    assert set(graph.get_output_jsonschema()["properties"]) == {"messages", "answer", "trajectory"}
    out = graph.invoke({"image": str(scene_path), "question": QUESTION, "pending_call": {"name": "x"}})
    assert set(out) <= {"answer", "trajectory", "messages"} and "pending_call" not in out


def test_async_episodes_run_concurrently(backend, processor, store, scene_path):
    config = AgentConfig(sampling=SamplingParams(max_tokens=8, temperature=1.0, seed=1))
    graph = create_visual_agent(backend, config=config, image_store=store)
    inputs = [{"image": str(scene_path), "question": f"{QUESTION} {i}"} for i in range(4)]
    outs = asyncio.run(graph.abatch(inputs))
    assert all(Trajectory.from_state(o).turns >= 1 for o in outs)


def test_steps_stream_the_same_under_stream_and_astream(processor, store, scene_path):
    """``stream_mode="custom"`` yields each turn and each tool call as it happens, whichever API runs the graph (the
    policy and tool nodes have a sync and an async body)."""
    script = [tool_call([200, 150, 260, 210]), answer("a checkerboard")]
    inputs = {"image": str(scene_path), "question": QUESTION}

    def graph():
        return create_visual_agent(ScriptedBackend(processor, list(script)), image_store=store)

    def steps(events):
        return [(e["event"], e.get("answer") or e.get("image")) for e in events]

    sync = steps(graph().stream(inputs, stream_mode="custom"))

    async def collect():
        return [e async for e in graph().astream(inputs, stream_mode="custom")]

    assert sync == steps(asyncio.run(collect()))
    assert [name for name, _ in sync] == ["turn", "tool", "turn"]
    assert sync[1][1].startswith("sha256:") and sync[2][1] == "a checkerboard"


def test_an_async_episode_makes_no_blocking_call_on_the_event_loop(processor, store, scene_path):
    """What ``langgraph dev`` enforces (BlockBuster raises on file and socket calls made on its event loop): the
    policy and zoom nodes run on the loop under ``ainvoke``, so a crop is stored without touching the disk there."""
    from blockbuster import blockbuster_ctx

    graph = create_visual_agent(
        ScriptedBackend(processor, [tool_call([200, 150, 260, 210]), answer("a checkerboard")]), image_store=store
    )
    store.put_file(scene_path)  # the file decoded once before (prepare decodes in a worker thread anyway)
    with blockbuster_ctx():
        out = asyncio.run(graph.ainvoke({"image": str(scene_path), "question": QUESTION}))
    assert Trajectory.from_state(out).crops == 1
    store.flush()
    assert store.get(Trajectory.from_state(out).images[1]).size[0] > 200


def test_sqlite_checkpoint_resumes_in_a_new_graph(processor, tmp_path, scene_path):
    """Stop before the first zoom, rebuild everything from disk, resume: the crops are intact."""
    db, images = tmp_path / "threads.sqlite", tmp_path / "images"
    script = [tool_call([200, 150, 260, 210]), tool_call([100, 100, 200, 200]), answer("done")]
    thread = {"configurable": {"thread_id": "t1"}}
    conn = sqlite3.connect(db, check_same_thread=False)
    first = create_visual_agent(
        ScriptedBackend(processor, script),
        image_store=ImageStore(images),
        checkpointer=SqliteSaver(conn),
        interrupt_before=["zoom"],
    )
    first.invoke({"image": str(scene_path), "question": QUESTION}, thread)
    assert first.get_state(thread).next == ("zoom",)
    conn.close()
    conn = sqlite3.connect(db, check_same_thread=False)
    second = create_visual_agent(
        ScriptedBackend(processor, script[1:]), image_store=ImageStore(images), checkpointer=SqliteSaver(conn)
    )
    out = second.invoke(None, thread)
    conn.close()
    traj = Trajectory.from_state(out)
    assert out["answer"] == "done" and traj.crops == 2 and len(traj.images) == 3
    assert all(ImageStore(images).get(r) for r in traj.images)

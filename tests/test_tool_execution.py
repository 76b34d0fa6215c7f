"""How tools run: async tools are awaited, sync ones run in threads of their own, so a tool that waits holds up its
own episode only — episodes in flight call their tools at the same time, and a v5 turn's calls run together and are
observed in call order. ``async def`` tools work under ``invoke`` too; every call records its latency and, when it
fails, what kind of failure it was; schemas inline nested models; ``--tools mod:fn`` finds ``mod.py`` in the working
folder. (Concurrency is shown by barriers — a call that only returns when N calls are in flight at once — never by
timing; benchmarks/tool_concurrency.py measures the wall time.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest
from conftest import replay
from langchain_core.tools import tool as langchain_tool
from PIL import Image
from pydantic import BaseModel, Field

from deepeyes_agent.backends import answer_turn, tool_call_turn
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.tools import resolve_tool, tool_stats, visual_tool
from deepeyes_agent.tools.metrics import call_records
from deepeyes_agent.trajectory import Trajectory

IN_FLIGHT = 8


def run_batch(graph, scene_path, n: int) -> list[Trajectory]:
    inputs = [{"image": str(scene_path), "question": "Which colour?"}] * n
    outs = asyncio.run(graph.abatch(inputs, config={"max_concurrency": n}))
    return [Trajectory.from_state(o) for o in outs]


def test_episodes_in_flight_call_a_blocking_tool_at_the_same_time(processor, store, scene_path):
    barrier = threading.Barrier(IN_FLIGHT, timeout=30)  # passes only when every episode's call is running at once

    @visual_tool
    def detector(image: Image.Image) -> str:
        """Ask a remote detector (blocking)."""
        barrier.wait()
        return "one sign"

    graph = create_visual_agent(
        replay(processor, tool_call_turn("detector", {}), answer_turn("red")), tools=[detector], image_store=store
    )
    for traj in run_batch(graph, scene_path, IN_FLIGHT):
        assert traj.observations[0].text == "one sign" and traj.answer == "red"


@pytest.mark.parametrize("kind", ["async function", "async LangChain tool"])
def test_episodes_in_flight_await_an_async_tool_together(kind, processor, store, scene_path):
    arrived, everyone = [0], asyncio.Event()

    async def meet() -> str:
        arrived[0] += 1
        if arrived[0] == IN_FLIGHT:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 30)  # every episode's call is awaiting here at once
        return "one sign"

    if kind == "async function":

        @visual_tool(name="detector")
        async def detector(image: Image.Image) -> str:
            """Ask a remote detector."""
            return await meet()

    else:

        @langchain_tool("detector")
        async def detector() -> str:
            """Ask a remote detector."""
            return await meet()

    graph = create_visual_agent(
        replay(processor, tool_call_turn("detector", {}), answer_turn("red")), tools=[detector], image_store=store
    )
    for traj in run_batch(graph, scene_path, IN_FLIGHT):
        assert traj.observations[0].text == "one sign" and traj.observations[0].error is None


def test_a_turns_calls_run_together_and_are_observed_in_call_order(processor, store, scene_path):
    barrier = threading.Barrier(3, timeout=30)

    @visual_tool
    def look(image: Image.Image, what: str) -> str:
        """Look for something."""
        barrier.wait()  # the three calls of the turn are running at once
        return f"saw {what}"

    calls = [tool_call_turn("look", {"what": w}).split("</think>\n")[1].removesuffix("<|im_end|>") for w in "abc"]
    graph = create_visual_agent(
        replay(processor, "<think>three</think>\n" + "\n".join(calls) + "<|im_end|>", answer_turn("red")),
        tools=[look],
        config=AgentConfig(max_calls_per_turn=3),
        image_store=store,
    )
    (traj,) = run_batch(graph, scene_path, 1)
    assert [o.text for o in traj.observations] == ["saw a", "saw b", "saw c"]


@pytest.mark.parametrize("api", ["invoke", "ainvoke"])
def test_an_async_langchain_tool_runs_under_invoke_and_ainvoke(api, processor, store, scene_path):
    @langchain_tool
    async def ocr(detail: str = "words") -> str:
        """Read the text in the image."""
        await asyncio.sleep(0)
        return f"{detail}: STOP"

    graph = create_visual_agent(
        replay(processor, tool_call_turn("ocr", {"detail": "letters"}), answer_turn("red")),
        tools=["zoom", ocr],
        image_store=store,
    )
    inputs = {"image": str(scene_path), "question": "What does it say?"}
    out = graph.invoke(inputs) if api == "invoke" else asyncio.run(graph.ainvoke(inputs))
    observation = Trajectory.from_state(out).observations[0]
    assert observation.text == "letters: STOP" and observation.error is None and observation.latency_ms >= 0


@pytest.mark.parametrize("api", ["invoke", "ainvoke"])
def test_failures_are_observations_with_their_kind_and_latency(api, processor, store, scene_path):
    cancelled = []

    @visual_tool(timeout_s=0.2)
    async def hang(image: Image.Image) -> str:
        """A service that never answers."""
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)  # past its time limit an async call is cancelled, not left running
            raise
        return "never"

    turns = [
        tool_call_turn("hang", {}),
        tool_call_turn("tool_fixtures:broken", {}),  # an import path is never a call's tool name
        tool_call_turn("enhance", {"region": "not a box"}),
        tool_call_turn("broken", {}),
        answer_turn("red"),
    ]
    graph = create_visual_agent(
        replay(processor, *turns),
        tools=["zoom", hang, "tool_fixtures:broken", "tool_fixtures:enhance"],
        config=AgentConfig(max_turns=5),
        image_store=store,
    )
    inputs = {"image": str(scene_path), "question": "Which colour?"}
    out = graph.invoke(inputs) if api == "invoke" else asyncio.run(graph.ainvoke(inputs))
    traj = Trajectory.from_state(out)
    assert [o.error_kind for o in traj.observations] == ["timeout", "unknown_tool", "invalid_arguments", "failed"]
    assert traj.observations[0].error == "Error: hang took longer than 0.2 s" and traj.answer == "red"
    assert all(o.latency_ms is not None for o in traj.observations if o.error_kind != "unknown_tool")
    if api == "ainvoke":
        assert cancelled == [True]
    stats = tool_stats(call_records(traj))
    assert stats["hang"]["errors_by_kind"] == {"timeout": 1} and stats["hang"]["latency_ms_p50"] >= 200


class Point(BaseModel):
    x: int = Field(description="pixels from the left")
    y: int = Field(description="pixels from the top")


def test_a_nested_argument_is_inlined_in_the_schema_and_reaches_the_tool(processor, store, scene_path):
    @visual_tool
    def colour_at(image: Image.Image, point: Point) -> str:
        """Say the colour of one pixel."""
        return str(image.getpixel((point.x, point.y)))

    parameters = resolve_tool(colour_at).parameters()
    assert "$ref" not in json.dumps(parameters) and "$defs" not in json.dumps(parameters)
    assert parameters["properties"]["point"]["properties"]["x"] == {
        "description": "pixels from the left",
        "type": "integer",
    }
    graph = create_visual_agent(
        replay(processor, tool_call_turn("colour_at", {"point": {"x": 905, "y": 705}}), answer_turn("red")),
        tools=[colour_at],
        image_store=store,
    )
    (traj,) = run_batch(graph, scene_path, 1)
    assert traj.observations[0].text == "(220, 30, 30)"  # the red target of the scene


def test_a_tool_is_imported_from_the_working_folder(tiny_dir, scene_path, tmp_path):
    """``--tools mytools:fn`` with mytools.py beside the user, no PYTHONPATH (as uvicorn and langgraph dev do)."""
    (tmp_path / "mytools.py").write_text(
        "from deepeyes_agent.tools import visual_tool\n\n"
        "@visual_tool\ndef measure(image) -> str:\n    '''Measure the image.'''\n    return str(image.size)\n"
    )
    trace = tmp_path / "trace.json"
    done = subprocess.run(
        [sys.executable, "-m", "deepeyes_agent.cli", "ask", str(scene_path), "Which colour?", "--model", str(tiny_dir),
         "--tools", "zoom,mytools:measure", "--max-turns", "1", "--max-new-tokens", "4", "--save-json", str(trace)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from deepeyes_agent.models import load_processor

    prompt = load_processor(tiny_dir).tokenizer.decode(json.loads(trace.read_text())["prompt_ids"])
    assert '"name":"measure"' in prompt  # the system prompt lists the user's tool


def test_a_reviewed_tool_waits_for_its_person(processor, store, scene_path):
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    graph = create_visual_agent(
        replay(processor, tool_call_turn("enhance", {"region": [0, 0, 50, 50]}), answer_turn("red")),
        tools=["zoom", "tool_fixtures:enhance"],
        approve_tools=["enhance"],
        checkpointer=InMemorySaver(),
        image_store=store,
    )
    thread = {"configurable": {"thread_id": "reviewed"}}
    out = graph.invoke({"image": str(scene_path), "question": "Which colour?"}, thread)
    assert out["__interrupt__"][0].value["tool_call"]["name"] == "enhance"
    out = graph.invoke(Command(resume={"factor": 3.0}), thread)  # resume with an argument replaced
    observation = Trajectory.from_state(out).observations[0]
    assert observation.review == "edited" and observation.image is not None and out["answer"] == "red"
    with pytest.raises(ValueError, match="not one of the agent's tools"):
        create_visual_agent(replay(processor), approve_tools=["ocr"], checkpointer=InMemorySaver())

"""The visual agent as a subgraph of examples/embed_in_workflow.py: routing, streaming, resuming."""

import importlib.util
import sqlite3
import sys
from pathlib import Path

from conftest import answer, tool_call
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.images import ImageStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "embed_in_workflow.py"
spec = importlib.util.spec_from_file_location("embed_in_workflow", EXAMPLE)
workflow_example = importlib.util.module_from_spec(spec)
sys.modules["embed_in_workflow"] = workflow_example  # typing.get_type_hints resolves the state through it
spec.loader.exec_module(workflow_example)

SCRIPT = [tool_call([200, 150, 260, 210]), tool_call([150, 120, 300, 260]), answer("a checkerboard")]


def test_router_sends_images_to_the_visual_agent_and_streams_its_steps(processor, store, scene_path):
    wf = workflow_example.build_workflow(ScriptedBackend(processor, SCRIPT), store=store)
    seen = []
    for namespace, update in wf.stream(
        {"messages": [workflow_example.image_message(scene_path, "What is inside?")]},
        stream_mode="updates",
        subgraphs=True,
    ):
        seen.extend((namespace[0].split(":")[0] if namespace else "", node) for node in update)
    assert [n for ns, n in seen if ns == "visual_agent"] == [
        "prepare",
        "policy",
        "zoom",
        "policy",
        "zoom",
        "policy",
        "finish",
    ]
    assert ("", "writer") in seen
    final = wf.invoke({"messages": [HumanMessage("no image here")]})
    assert final["report"].startswith("Text agent")


def test_custom_stream_emits_boxes_and_crop_references(processor, store, scene_path):
    wf = workflow_example.build_workflow(ScriptedBackend(processor, SCRIPT), store=store)
    events = [
        e
        for _, e in wf.stream(
            {"messages": [workflow_example.image_message(scene_path, "What?")]}, stream_mode="custom", subgraphs=True
        )
    ]
    zooms = [e for e in events if e["event"] == "tool" and e["tool"] == "image_zoom_in_tool"]
    assert len(zooms) == 2 and all(z["image"].startswith("sha256:") and z["box_original"] for z in zooms)
    assert [e["answer"] for e in events if e["event"] == "turn"][-1] == "a checkerboard"


def test_workflow_resumes_from_a_sqlite_checkpoint(processor, tmp_path, scene_path):
    db, images = tmp_path / "wf.sqlite", tmp_path / "images"
    thread = {"configurable": {"thread_id": "wf-1"}}
    conn = sqlite3.connect(db, check_same_thread=False)
    wf = workflow_example.build_workflow(
        ScriptedBackend(processor, SCRIPT),
        store=ImageStore(images),
        checkpointer=SqliteSaver(conn),
        interrupt_before_zoom=True,
    )
    wf.invoke({"messages": [workflow_example.image_message(scene_path, "What is inside?")]}, thread)
    assert wf.get_state(thread, subgraphs=True).tasks[0].state.next == ("zoom",)
    conn.close()

    conn = sqlite3.connect(db, check_same_thread=False)  # a new process would do exactly this
    wf = workflow_example.build_workflow(
        ScriptedBackend(processor, SCRIPT[1:]),
        store=ImageStore(images),
        checkpointer=SqliteSaver(conn),
        interrupt_before_zoom=True,
    )
    wf.invoke(None, thread)  # runs the first zoom, stops before the second
    final = wf.invoke(None, thread)
    conn.close()
    assert final["messages"][-1].content == "a checkerboard"
    assert "2 zoom(s)" in final["report"]

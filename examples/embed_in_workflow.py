"""Embed the visual agent as a subgraph of a bigger LangGraph workflow.

    START → router ─┬─(image in the message)→ visual_agent (subgraph) ─→ writer → END
                    └─(text only)───────────→ text_agent ──────────────→ writer

The visual agent shares the workflow's ``messages`` channel: it reads the last human message's image
block and question and appends its answer; the writer turns that into a short report. Runs on CPU
with the embedded default model:  python examples/embed_in_workflow.py
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.trajectory import Trajectory


class WorkflowState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    trajectory: dict  # written by the visual agent subgraph (shared key)
    report: str


def _has_image(message: AnyMessage) -> bool:
    return isinstance(message.content, list) and any(
        isinstance(b, dict) and b.get("type") in ("image", "image_url") for b in message.content
    )


def router(state: WorkflowState) -> str:
    return "visual_agent" if _has_image(state["messages"][-1]) else "text_agent"


def text_agent(state: WorkflowState) -> dict:
    question = state["messages"][-1].content
    return {
        "messages": [AIMessage(f"No image was given, so I cannot look. You asked: {question!r}", name="text_agent")]
    }


def writer(state: WorkflowState) -> dict:
    last = state["messages"][-1]
    if last.name == "visual_agent" and state.get("trajectory"):
        traj = Trajectory.from_state(state)
        report = (
            f"Visual agent answered {last.content!r} after {traj.turns} turn(s) and {traj.crops} zoom(s) "
            f"(stopped: {traj.stop_reason})."
        )
    else:
        report = f"Text agent: {last.content}"
    return {"report": report}


def build_workflow(
    backend, *, store=None, checkpointer=None, config: AgentConfig | None = None, interrupt_before_zoom: bool = False
):
    visual = create_visual_agent(
        backend, config=config, image_store=store, interrupt_before=["zoom"] if interrupt_before_zoom else None
    )
    graph = StateGraph(WorkflowState)
    graph.add_node("visual_agent", visual)  # a compiled graph is a node: it runs as a subgraph
    graph.add_node("text_agent", text_agent)
    graph.add_node("writer", writer)
    graph.add_conditional_edges(START, router, ["visual_agent", "text_agent"])
    graph.add_edge("visual_agent", "writer")
    graph.add_edge("text_agent", "writer")
    graph.add_edge("writer", END)
    return graph.compile(checkpointer=checkpointer)


def image_message(path: Path, question: str) -> HumanMessage:
    data = base64.b64encode(path.read_bytes()).decode()
    return HumanMessage(
        content=[{"type": "image", "base64": data, "mime_type": "image/png"}, {"type": "text", "text": question}]
    )


def main() -> None:
    from deepeyes_agent.backends import SamplingParams, TransformersBackend
    from deepeyes_agent.models import default_model_dir

    model_dir = default_model_dir()
    backend = TransformersBackend.from_pretrained(model_dir)
    workflow = build_workflow(
        backend, config=AgentConfig.for_model(model_dir, sampling=SamplingParams(max_tokens=64, temperature=0.0))
    )
    image = Path(__file__).parent / "images" / "signs.png"
    for message in (
        image_message(image, "What pattern is on the orange sign?"),
        HumanMessage("What is the capital of France?"),
    ):
        print(f"\n>>> {message.content if isinstance(message.content, str) else message.content[-1]['text']}")
        final = None
        for namespace, update in workflow.stream({"messages": [message]}, stream_mode="updates", subgraphs=True):
            for node, value in update.items():
                where = "/".join(ns.split(":")[0] for ns in namespace) or "workflow"
                print(f"  [{where}] {node}: {sorted(value) if isinstance(value, dict) else value}")
                if node == "writer":
                    final = value["report"]
        print(f"report: {final}")


if __name__ == "__main__":
    main()

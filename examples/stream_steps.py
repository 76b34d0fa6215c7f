"""Print the agent's steps live, as a UI would render them.

    python examples/stream_steps.py [IMAGE] [QUESTION]

``stream_mode="custom"`` gives one event per model turn (think, tool call, answer) and per zoom (box
in the model's and the original frame, the crop as a ``sha256:`` reference into the image store);
``"updates"`` gives each node's state update.
"""

from __future__ import annotations

import sys
from pathlib import Path

from deepeyes_agent.backends import SamplingParams, TransformersBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.models import default_model_dir


def main() -> None:
    image = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("images") / "signs.png")
    question = sys.argv[2] if len(sys.argv) > 2 else "What pattern is on the purple sign?"
    model_dir = default_model_dir()
    agent = create_visual_agent(
        TransformersBackend.from_pretrained(model_dir),
        config=AgentConfig.for_model(model_dir, max_turns=3, sampling=SamplingParams(max_tokens=128, temperature=0.0)),
    )
    for mode, event in agent.stream({"image": image, "question": question}, stream_mode=["updates", "custom"]):
        if mode == "updates":
            print(f"[node] {', '.join(event)}")
        elif event["event"] == "turn":
            print(
                f"  turn {event['turn']}: think={event['think']!r} tool_call={event['tool_call']} answer={event['answer']!r}"
            )
        else:  # a tool call: its tool's name, the box (a zoom), the image it showed, its text or error, its latency
            print(
                f"  {event['tool']}: box {event['box_model']} → original {event['box_original']} image={event['image']} "
                f"error={event['error']} ({event['latency_ms']:.0f} ms)"
            )


if __name__ == "__main__":
    main()

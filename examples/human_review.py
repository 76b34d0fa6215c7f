"""A human approves, edits or rejects each zoom before the crop is taken.

    python examples/human_review.py                 # asks on the terminal
    python examples/human_review.py --auto edit     # non-interactive: approve | edit | reject

The graph interrupts before every crop (``approve_zooms=True``, needs a checkpointer); the thread is
persisted in SQLite, so the decision may come from another process, hours later.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from deepeyes_agent.backends import SamplingParams, TransformersBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.models import default_model_dir

IMAGE = Path(__file__).with_name("images") / "signs.png"


def decide(proposal: dict, auto: str | None):
    box = proposal["tool_call"]["arguments"]["bbox_2d"]
    print(
        f"turn {proposal['turn']}: the model wants to zoom into {box} ({proposal['tool_call']['arguments'].get('label')})"
    )
    choice = auto or input("approve [a], reject [r], or type a new box as x1,y1,x2,y2: ").strip()
    if choice in ("a", "approve", ""):
        return True
    if choice in ("r", "reject"):
        return False
    if choice == "edit":  # the auto mode's edit: widen the box by 10 view pixels each side
        return {"bbox_2d": [box[0] - 10, box[1] - 10, box[2] + 10, box[3] + 10]}
    return {"bbox_2d": [float(v) for v in choice.split(",")]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--auto", choices=["approve", "edit", "reject"])
    p.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "deepeyes-review.sqlite"))
    args = p.parse_args()
    if args.auto is None and not sys.stdin.isatty():
        sys.exit(
            "human_review.py asks for each decision on the terminal, and there is none here: run it in a terminal, "
            "or decide automatically with --auto approve | edit | reject"
        )
    model_dir = default_model_dir()
    agent = create_visual_agent(
        TransformersBackend.from_pretrained(model_dir),
        config=AgentConfig.for_model(model_dir, max_turns=3, sampling=SamplingParams(max_tokens=128, temperature=0.0)),
        checkpointer=SqliteSaver(sqlite3.connect(args.db, check_same_thread=False)),
        approve_zooms=True,
    )
    thread = {"configurable": {"thread_id": f"review-{args.auto or 'interactive'}"}}
    out = agent.invoke({"image": str(IMAGE), "question": "Zoom in on the orange sign."}, thread)
    while "__interrupt__" in out:
        out = agent.invoke(Command(resume=decide(out["__interrupt__"][0].value, args.auto)), thread)
    traj = out["trajectory"]
    for seg in traj["segments"]:
        if seg["kind"] == "observation":
            print(
                f"zoom {seg['review']}: box {seg['box_model']} → original {seg['box_original']}"
                if seg["image"]
                else f"zoom {seg['review']}: {seg['error']}"
            )
    print(json.dumps({"answer": out["answer"], "stop_reason": traj["stop_reason"], "crops": traj["crops"]}))


if __name__ == "__main__":
    main()

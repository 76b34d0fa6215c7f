"""One persisted thread of the visual agent in its own process (used by test_persistence.py).

    python tests/persisted_thread.py DB IMAGES SCENE MODEL_DIR start|resume [--kill-after-crops N]

``start`` begins the thread; with ``--kill-after-crops N`` the process SIGKILLs itself right after its
N-th crop is checkpointed (a crash between two turns). ``resume`` continues the thread from the
database in a fresh process and prints the final trajectory as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3

from conftest import answer, tool_call
from langgraph.checkpoint.sqlite import SqliteSaver

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.graphs import create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models.processor import load_processor


def turn(request, _turn):
    """Zoom twice (two different boxes), then answer: decided by the images seen so far."""
    boxes = {1: [10, 10, 60, 60], 2: [30, 20, 90, 70]}
    n = len(request.images)
    return tool_call(boxes[n]) if n in boxes else answer("red")


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("db", "images", "scene", "model_dir", "mode"):
        p.add_argument(name)
    p.add_argument("--kill-after-crops", type=int, default=0)
    args = p.parse_args()
    conn = sqlite3.connect(args.db, check_same_thread=False)
    graph = create_visual_agent(
        ScriptedBackend(load_processor(args.model_dir), turn),
        image_store=ImageStore(args.images),
        checkpointer=SqliteSaver(conn),
    )
    thread = {"configurable": {"thread_id": "crash-test"}}
    inputs = {"image": args.scene, "question": "What colour is the square?"} if args.mode == "start" else None
    crops = 0
    # durability="sync": each step's checkpoint is on disk before the next step starts
    for update in graph.stream(inputs, thread, stream_mode="updates", durability="sync"):
        if "zoom" in update:
            crops += 1
            if crops == args.kill_after_crops:
                print(f"killing myself after crop {crops}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
    print(json.dumps(graph.get_state(thread).values["trajectory"]))


if __name__ == "__main__":
    main()

"""`langgraph dev` serves the visual agent from langgraph.json; one thread runs through its HTTP API."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("langgraph") / "server.log"
    env = {**os.environ, "DEEPEYES_AGENT_IMAGE_STORE": str(log.parent / "images")}
    cli = Path(sys.executable).with_name("langgraph")
    with open(log, "w") as out:
        proc = subprocess.Popen([str(cli), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited: {log.read_text()[-3000:]}")
        try:
            if urlopen(url + "/ok", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        pytest.fail(f"langgraph dev did not come up: {log.read_text()[-3000:]}")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_a_thread_runs_through_the_http_api(server):
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    assert [a["graph_id"] for a in client.assistants.search()] == ["visual_agent"]
    thread = client.threads.create()
    image = "data:image/png;base64," + base64.b64encode((ROOT / "examples/images/signs.png").read_bytes()).decode()
    state = client.runs.wait(thread["thread_id"], "visual_agent", input={
        "image": image, "question": "What pattern is on the orange sign?",
        "options": ["checkerboard", "vertical stripes", "diagonal stripes", "horizontal stripes"]})
    assert state["trajectory"]["stop_reason"] in ("answer", "no_tool_call", "max_turns", "length")
    assert state["trajectory"]["turns"] >= 1 and state["image"].startswith("sha256:")
    # the server persisted the thread: its state is readable afterwards
    saved = client.threads.get_state(thread["thread_id"])
    assert saved["values"]["trajectory"] == state["trajectory"]

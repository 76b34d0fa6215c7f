"""`langgraph dev` serves the visual agent from langgraph.json: a thread runs through its HTTP API, and what a
remote caller must not do (read the server's files, upload without limit, use another thread's images) is refused
while the server goes on answering."""

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

pytestmark = pytest.mark.slow  # starts processes or servers

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("langgraph") / "server.log"
    env = {
        **os.environ,
        "DEEPEYES_AGENT_IMAGE_STORE": str(log.parent / "images"),
        "DEEPEYES_AGENT_MAX_UPLOAD_MB": "0.25",
    }  # signs.png (41 KB) passes, 300 KB does not
    cli = Path(sys.executable).with_name("langgraph")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(cli), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
    state = client.runs.wait(
        thread["thread_id"],
        "visual_agent",
        input={
            "image": image,
            "question": "What pattern is on the orange sign?",
            "options": ["checkerboard", "vertical stripes", "diagonal stripes", "horizontal stripes"],
        },
    )
    assert state["trajectory"]["stop_reason"] in ("answer", "no_tool_call", "max_turns", "length")
    assert state["trajectory"]["turns"] >= 1 and state["trajectory"]["images"][0].startswith("sha256:")
    # the server persisted the thread: its state is readable afterwards
    saved = client.threads.get_state(thread["thread_id"])
    assert saved["values"]["trajectory"] == state["trajectory"]


SIGNS = "data:image/png;base64," + base64.b64encode((ROOT / "examples/images/signs.png").read_bytes()).decode()


def _refused(client, thread_id: str, image: str) -> str:
    out = client.runs.wait(
        thread_id, "visual_agent", input={"image": image, "question": "What is this?"}, raise_error=False
    )
    assert "__error__" in out, out
    return out["__error__"]["message"]


def test_remote_callers_cannot_reach_the_servers_disk_or_other_threads(server):
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    mine, theirs = client.threads.create()["thread_id"], client.threads.create()["thread_id"]
    own = client.runs.wait(mine, "visual_agent", input={"image": SIGNS, "question": "Zoom in on the orange sign."})
    ref = own["trajectory"]["images"][0]
    local = {
        _refused(client, mine, path)
        for path in (
            str(ROOT / "examples/images/signs.png"),
            f"file://{ROOT}/examples/images/signs.png",
            "/etc/passwd",
            "/no/such/file.png",
            str(ROOT / "README.md"),
        )
    }
    assert len(local) == 1 and "local image paths are not accepted" in local.pop()  # same words, file or no file
    big = "data:image/png;base64," + "A" * 400_000
    assert "exceeds the upload limit" in _refused(client, mine, big)
    assert _refused(client, theirs, ref) == f"{ref}: unknown image reference"
    # the owner may name its image again, and the server still answers good requests
    again = client.runs.wait(
        mine, "visual_agent", input={"image": ref, "question": "What pattern is on the orange sign?"}
    )
    assert again["trajectory"]["turns"] >= 1 and again["trajectory"]["images"][0] == ref
    fresh = client.runs.wait(theirs, "visual_agent", input={"image": SIGNS, "question": "Which sign is left?"})
    assert fresh["trajectory"]["turns"] >= 1

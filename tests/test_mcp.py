"""MCP servers' tools, against a real MCP server the tests start (tests/mcp_server.py, on the ``mcp`` SDK) over stdio
and over streamable HTTP on 127.0.0.1: through ``create_visual_agent``, the command line (``--mcp``), ``eval``, GRPO
steps and the served graph; an image result is an image observation (the reward's tool bonus counts it), text is
text, audio is a text saying the model cannot see it; a server killed mid-episode or a hanging tool is an error
observation and the episode goes on, the next episode reconnects; a bad configuration fails at start, naming the
server."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import replay
from PIL import Image

from deepeyes_agent.backends import ScriptedBackend, answer_turn, tool_call_turn
from deepeyes_agent.errors import InputError
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageError
from deepeyes_agent.judges import OptionJudge, Truth
from deepeyes_agent.rl.reward import compute_reward
from deepeyes_agent.tools import mcp_tools
from deepeyes_agent.tools.content import content_to_result
from deepeyes_agent.trajectory import Trajectory

SERVER = str(Path(__file__).with_name("mcp_server.py"))
QUESTION = {"question": "What colour is the corner?", "options": ["blue", "red"]}


def stdio(**extra) -> dict:
    return {"vision": {"transport": "stdio", "command": sys.executable, "args": [SERVER], **extra}}


def episode(processor, store, scene_path, tools, *turns, api="invoke") -> Trajectory:
    graph = create_visual_agent(
        replay(processor, *turns), tools=tools, config=AgentConfig(max_turns=len(turns)), image_store=store
    )
    inputs = {"image": str(scene_path), **QUESTION}
    out = graph.invoke(inputs) if api == "invoke" else asyncio.run(graph.ainvoke(inputs))
    return Trajectory.from_state(out)


@pytest.fixture(scope="module")
def http_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, SERVER, "http", str(port)], stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(10)


@pytest.mark.parametrize("api", ["invoke", "ainvoke"])
def test_an_image_tool_and_a_text_tool_over_stdio(api, processor, store, scene_path):
    tools = mcp_tools(stdio())
    assert {"corner", "describe", "wait", "crash", "listen"} <= {t.name for t in tools}
    corner = next(t for t in tools if t.name == "corner")
    assert "image" not in corner.parameters()["properties"]  # the agent injects the image; the model never writes it
    traj = episode(
        processor, store, scene_path, ["zoom", *tools],
        tool_call_turn("corner", {"which": "bottom-right", "size": 300}),
        tool_call_turn("describe", {"detail": "size"}),
        tool_call_turn("listen", {}),
        answer_turn("red"), api=api,
    )  # fmt: skip
    image, text, audio = traj.observations
    assert image.tool == "corner" and image.error is None and store.get(image.image).size == (300, 300)
    assert text.text == "size: 2000x1500 pixels" and text.image is None
    assert audio.text == "[listen returned audio, which the model cannot see]"
    assert traj.crops == 1 and all(o.latency_ms > 0 for o in traj.observations)
    truth = Truth(answer="red", options=("blue", "red"), answer_index=1)
    assert compute_reward(traj, truth, OptionJudge()).tool == 1.0  # an image a tool showed earns the bonus


def test_an_image_tool_over_streamable_http(http_url, processor, store, scene_path):
    tools = mcp_tools({"remote": {"transport": "streamable_http", "url": http_url}})
    traj = episode(
        processor, store, scene_path, tools, tool_call_turn("corner", {"which": "top-left", "size": 100}),
        answer_turn("red"), api="ainvoke",
    )  # fmt: skip
    assert store.get(traj.observations[0].image).getpixel((0, 0)) == (200, 220, 240)  # the scene's background


def test_a_server_killed_mid_episode_is_an_error_and_the_next_episode_reconnects(processor, store, scene_path):
    tools = mcp_tools(stdio(tool_timeout_s=20))
    killed = episode(processor, store, scene_path, tools, tool_call_turn("crash", {}), answer_turn("red"))
    assert killed.observations[0].error_kind == "unavailable" and killed.answer == "red"
    later = episode(processor, store, scene_path, tools, tool_call_turn("describe", {}), answer_turn("red"))
    assert later.observations[0].text == "size: 2000x1500 pixels"


def test_a_hanging_tool_is_a_timeout_and_the_episode_goes_on(processor, store, scene_path):
    tools = mcp_tools(stdio(tool_timeout_s=1))
    traj = episode(
        processor, store, scene_path, tools, tool_call_turn("wait", {"seconds": 60}),
        tool_call_turn("wait", {"seconds": 0}), answer_turn("red"), api="ainvoke",
    )  # fmt: skip
    hung, quick = traj.observations
    assert hung.error_kind == "timeout" and "took longer than 1 s" in hung.error
    assert quick.text == "waited 0 s" and traj.answer == "red"  # the session survived the timeout


@pytest.mark.parametrize(
    "config, says",
    [
        ({"vision": {"transport": "stdio", "command": "no-such-server"}}, "'vision' (no-such-server): its command does"),
        ({"vision": {"transport": "stdio", "command": "sleep", "args": ["60"], "startup_timeout_s": 1}},
         "'vision' (sleep 60) did not answer its handshake within 1 s"),
        ({"vision": {"transport": "stdio"}}, "MCP server 'vision': a stdio server needs a command"),
        ({"vision": {"transport": "carrier-pigeon", "command": "x"}}, "MCP server 'vision': transport"),
        ({"vision": {"command": "x", "retries": 3}}, "MCP server 'vision': retries: Extra inputs"),
        ([], "expected a mapping of server names"),
    ],
)  # fmt: skip
def test_a_bad_configuration_fails_at_start_naming_the_server(config, says):
    with pytest.raises(InputError, match=says.replace("(", r"\(").replace(")", r"\)")):
        mcp_tools(config)


def test_the_command_line_takes_mcp_servers_and_refuses_a_bad_file_in_one_line(tiny_dir, scene_path, tmp_path):
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps(stdio()))
    trace = tmp_path / "trace.json"
    ask = [sys.executable, "-m", "deepeyes_agent.cli", "ask", str(scene_path), "Which colour?", "--model", str(tiny_dir),
           "--max-turns", "1", "--max-new-tokens", "4"]  # fmt: skip
    done = subprocess.run([*ask, "--mcp", str(servers), "--save-json", str(trace)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from deepeyes_agent.models import load_processor

    prompt = load_processor(tiny_dir).tokenizer.decode(json.loads(trace.read_text())["prompt_ids"])
    assert '"name":"corner"' in prompt and '"name":"image_zoom_in_tool"' in prompt
    servers.write_text('{"vision": {"transport": "stdio", "command": "no-such-server"}}')
    done = subprocess.run([*ask, "--mcp", str(servers)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: MCP server 'vision' (no-such-server): its command does not exist (No such file or directory)"
    ]


def test_eval_measures_an_mcp_tool(processor, store, tmp_path, scene_path):
    from deepeyes_agent.eval.config import EvalConfig
    from deepeyes_agent.eval.runner import run_eval

    rows = tmp_path / "rows.jsonl"
    (tmp_path / "scene.png").write_bytes(scene_path.read_bytes())  # dataset rows name images relative to the file
    line = {"image": "scene.png", **QUESTION, "answer": "red"}
    rows.write_text("".join(json.dumps({**line, "id": str(i)}) + "\n" for i in range(4)))
    backend = replay(processor, tool_call_turn("corner", {"size": 120}), answer_turn("red"))
    summary = run_eval(EvalConfig(data=rows, out=tmp_path / "eval"), backend, AgentConfig(mcp=stdio()), store=store)
    corner = summary["tools"]["corner"]
    assert corner["calls"] == 4 and corner["errors"] == 0 and corner["latency_ms_p95"] >= corner["latency_ms_p50"] > 0
    assert summary["accuracy"] == 1.0 and summary["mean_crops"] == 1.0


def test_grpo_steps_with_an_mcp_tool_train_and_resume(processor, tmp_path, scene_path):
    """Two GRPO steps with the MCP image tool on the embedded model (an instructed policy: its tokens are teacher-
    forced, so the logprobs are the model's own): the tool's images reach the training forward (the collator checks
    every image's tokens), its metrics are logged, and a resumed run continues from the checkpoint."""
    from deepeyes_agent.backends import TransformersBackend
    from deepeyes_agent.models import default_model_dir
    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.trainer import LocalTrainer

    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps(stdio()))
    rows = tmp_path / "rows.jsonl"
    (tmp_path / "scene.png").write_bytes(scene_path.read_bytes())
    rows.write_text(json.dumps({"image": "scene.png", **QUESTION, "answer": "red"}) + "\n")
    policy = TransformersBackend.from_pretrained(default_model_dir())
    tokenizer = policy.processor.tokenizer

    def instructed(request, _):
        if "<tool_response>" not in tokenizer.decode(request.prompt_ids):
            return tool_call_turn("corner", {"which": ["top-left", "bottom-right"][request.sampling.seed % 2]})
        return answer_turn("AB"[request.sampling.seed % 2])  # right or wrong: the group's rewards differ

    def trainer(steps: int) -> LocalTrainer:
        cfg = TrainConfig(
            data=rows, out=tmp_path / "run", steps=steps, prompts_per_step=1, rollouts_per_prompt=4, lr=1e-4,
            max_new_tokens=48, max_turns=3, threads=1, mcp=servers, save_every=1,
        )  # fmt: skip
        return LocalTrainer(cfg, backend=ScriptedBackend(policy.processor, instructed, model=policy))

    records = []
    trainer(1).run(log=records.append)
    resumed = trainer(2)
    assert resumed.start_step == 1
    resumed.run(log=records.append)
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        assert record["tool_calls/corner"] == 1.0 and record["tool_errors/corner"] == 0.0
        assert record["tool_latency_ms/corner"] > 0 and record["crops_per_episode"] == 1.0
        assert record["trained_trajectories"] > 0
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 2


def test_the_served_graph_takes_mcp_servers_from_its_environment_only(tiny_dir, tmp_path, monkeypatch, scene_path):
    marker = tmp_path / "a request started me"
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps(stdio()))
    monkeypatch.setenv("DEEPEYES_AGENT_MODEL", str(tiny_dir))
    monkeypatch.setenv("DEEPEYES_AGENT_MCP", str(servers))
    from deepeyes_agent.graphs import served

    graph = served.make_graph()
    data_url = "data:image/png;base64," + base64.b64encode(scene_path.read_bytes()).decode()
    evil = {"evil": {"transport": "stdio", "command": "touch", "args": [str(marker)]}}
    graph.invoke({"image": data_url, "question": "q", "mcp": evil, "tools": ["evil"]}, {"recursion_limit": 20})
    assert not marker.exists()  # the input has no tool setting: nothing in a request starts a server
    os.environ.pop("DEEPEYES_AGENT_MCP")
    assert served.server_mcp() is None


def test_an_image_result_passes_the_input_images_limits():
    from mcp.types import ImageContent

    small = io.BytesIO()
    Image.new("RGB", (4, 4)).save(small, format="PNG")
    content = ImageContent(type="image", data=base64.b64encode(small.getvalue()).decode(), mime_type="image/png")
    assert content_to_result([content], "tool").image.size == (4, 4)
    with pytest.raises(ImageError, match="exceeds the upload limit"):
        content_to_result([content], "tool", max_image_bytes=16)
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG")  # a few kB that decode to 400 MP
    content = ImageContent(type="image", data=base64.b64encode(bomb.getvalue()).decode(), mime_type="image/png")
    with pytest.raises(ImageError, match="decompression-bomb"):
        content_to_result([content], "tool")

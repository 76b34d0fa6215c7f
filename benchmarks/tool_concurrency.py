"""Tools that wait, under many episodes in flight: does a one-second tool cost one second, or one second per episode?

    python benchmarks/tool_concurrency.py                      # 8 and 64 episodes, each kind of tool, 1-s wait
    python benchmarks/tool_concurrency.py --episodes 8 --wait 0.5 --kinds sync async
    python benchmarks/tool_concurrency.py --quick              # seconds: what the tests run

Each episode (``graph.abatch``, no checkpointer — how ``eval`` and RL rollouts run) calls one tool that waits
``--wait`` seconds, then answers. The policy is scripted (``ScriptedBackend.replaying``: no model time), so the
ideal wall time is one tool latency plus the graph's own time, measured in the same process by the same episodes
with a tool that does not wait. Kinds of tool: a synchronous ``@visual_tool`` function (``time.sleep``), an
``async def`` one (``asyncio.sleep``), an ``async def`` LangChain tool, and an MCP tool over stdio (the test
server's ``wait``). Prints one JSON line per (kind, episodes) with the wall time, the no-wait time and
``ratio`` = wall / (wait + no-wait); the goal is ≤ 1.3 at 64 in flight. Before tools were awaited, 8 episodes of a
1-s sync tool took 8.4 s (ratio ~8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from langchain_core.tools import tool as langchain_tool

from deepeyes_agent.backends import ScriptedBackend, answer_turn, tool_call_turn
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.tools import mcp_tools, visual_tool

IMAGE = str(Path(__file__).resolve().parent.parent / "examples" / "images" / "signs.png")
MCP_SERVER = Path(__file__).resolve().parent.parent / "tests" / "mcp_server.py"


@visual_tool(name="wait")
def wait_sync(seconds: float) -> str:
    """Wait, then say so."""
    time.sleep(seconds)
    return f"waited {seconds:g} s"


@visual_tool(name="wait")
async def wait_async(seconds: float) -> str:
    """Wait, then say so."""
    await asyncio.sleep(seconds)
    return f"waited {seconds:g} s"


@langchain_tool("wait")
async def wait_langchain(seconds: float) -> str:
    """Wait, then say so."""
    await asyncio.sleep(seconds)
    return f"waited {seconds:g} s"


def make_tool(kind: str):
    if kind == "sync":
        return wait_sync
    if kind == "async":
        return wait_async
    if kind == "langchain":
        return wait_langchain
    servers = {"bench": {"transport": "stdio", "command": sys.executable, "args": [str(MCP_SERVER)]}}
    return next(t for t in mcp_tools(servers) if t.name == "wait")


async def run(tool, episodes: int, wait: float) -> float:
    """Wall seconds for ``episodes`` episodes in flight, each calling ``tool`` once with ``wait``, then answering."""
    policy = ScriptedBackend.replaying([tool_call_turn("wait", {"seconds": wait}), answer_turn("done")])
    graph = create_visual_agent(policy, tools=[tool], config=AgentConfig(max_turns=2), image_store=ImageStore())
    inputs = [{"image": IMAGE, "question": "Wait, then answer."}] * episodes
    start = time.perf_counter()
    outputs = await graph.abatch(inputs, config={"max_concurrency": episodes})
    took = time.perf_counter() - start
    errors = [o["trajectory"]["segments"][1].get("error") for o in outputs]
    if any(errors):
        raise RuntimeError(f"a tool call failed: {next(e for e in errors if e)}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--wait", type=float, default=1.0, help="seconds each tool call waits")
    parser.add_argument("--kinds", nargs="+", default=["sync", "async", "langchain", "mcp"])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--quick", action="store_true", help="8 episodes, a 0.2-s wait, one run: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.wait, args.repeats = [8], 0.2, 1
    for kind in args.kinds:
        tool = make_tool(kind)
        asyncio.run(run(tool, 2, 0.0))  # warm up: the prompt template, the image store, the MCP session
        for n in args.episodes:
            walls, idles = [], []
            for _ in range(args.repeats):
                idles.append(asyncio.run(run(tool, n, 0.0)))
                walls.append(asyncio.run(run(tool, n, args.wait)))
            wall, idle = sorted(walls)[len(walls) // 2], sorted(idles)[len(idles) // 2]
            ideal = args.wait + idle
            figures = {
                "kind": kind,
                "episodes": n,
                "wait_s": args.wait,
                "wall_s": round(wall, 3),
                "no_wait_s": round(idle, 3),
                "ratio": round(wall / ideal, 3),
                "serial_s": round(n * args.wait + idle, 3),
                "walls_s": [round(w, 3) for w in walls],
            }
            print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()

"""Give the agent a tool of your own next to the zoom, and watch it run.

    python examples/custom_tool.py                    # the embedded model
    DEEPEYES_CHAT_URL=http://127.0.0.1:8000/v1 DEEPEYES_CHAT_MODEL=Qwen2.5-VL-7B-Instruct python examples/custom_tool.py

``grid_overlay`` draws a labelled grid over the original image, so a model that is unsure of coordinates can read
them off the picture before it zooms. It is a plain function: ``@visual_tool`` reads its arguments from the
signature (``image`` is filled in by the agent: the episode's original at full resolution) and its description from
the docstring; it returns an image, which the model sees as a tool response.

What it prints: the system prompt (listing both tools), what the tool returns when called directly, then the
episode streamed turn by turn, each tool call with what came back. A chat model (``DEEPEYES_CHAT_URL``: any
OpenAI-compatible endpoint serving a VLM) gets both tools bound natively and may draw the grid before it zooms. The
embedded model knows zoom-world and the zoom only, from a prompt that names the zoom alone: with a second tool listed
its prompt is one it never saw, and it may answer without zooming — teaching a model a new tool is RL's job
("RL over several tools" in docs/tools.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageDraw

from deepeyes_agent import create_visual_agent
from deepeyes_agent.backends import SamplingParams
from deepeyes_agent.graphs import AgentConfig
from deepeyes_agent.images import ImageStore
from deepeyes_agent.tools import Toolbox, ToolContext, visual_tool
from deepeyes_agent.zoom import ViewGeometry, ZoomConfig

IMAGE = Path(__file__).with_name("images") / "signs.png"


@visual_tool
def grid_overlay(image: Image.Image, step: int = 200) -> Image.Image:
    """Draw a labelled grid over the image (lines every `step` original pixels) to read coordinates from."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    for x in range(0, out.width, step):
        draw.line([(x, 0), (x, out.height)], fill=(255, 0, 255), width=3)
        draw.text((x + 4, 4), str(x), fill=(255, 0, 255))
    for y in range(0, out.height, step):
        draw.line([(0, y), (out.width, y)], fill=(255, 0, 255), width=3)
        draw.text((4, y + 4), str(y), fill=(255, 0, 255))
    return out


def policy():
    """A chat model when DEEPEYES_CHAT_URL names one, else the embedded model (its folder)."""
    if os.environ.get("DEEPEYES_CHAT_URL"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=os.environ["DEEPEYES_CHAT_URL"],
            api_key=os.environ.get("DEEPEYES_CHAT_KEY", "EMPTY"),
            model=os.environ.get("DEEPEYES_CHAT_MODEL", "deepeyes"),
        )
    return None


def main() -> None:
    tools = ["zoom", grid_overlay]
    store = ImageStore()
    print("system prompt (deepeyes layout):\n" + Toolbox(tools).system_prompt + "\n")

    original = Image.open(IMAGE).convert("RGB")
    context = ToolContext([store.put(original)], store, ViewGeometry(*original.size, *original.size), ZoomConfig())
    direct = Toolbox(tools).execute("grid_overlay", {"step": 250}, context)
    print(f"grid_overlay called directly: an image of {direct.image.size[0]}x{direct.image.size[1]} px\n")

    greedy = AgentConfig(max_turns=3, sampling=SamplingParams(max_tokens=128, temperature=0.0))
    agent = create_visual_agent(policy(), tools=tools, config=greedy, image_store=store)
    question = {
        "image": str(IMAGE),
        "question": "What pattern is on the orange sign?",
        "options": ["vertical stripes", "diagonal stripes", "checkerboard", "horizontal stripes"],
    }
    answer = None
    for event in agent.stream(question, stream_mode="custom"):
        if event["event"] == "turn":
            answer = event["answer"] if event["answer"] is not None else answer
            print(
                f"turn {event['turn']}: think={event['think']!r} call={event['tool_call']} answer={event['answer']!r}"
            )
        else:
            shown = f"box {event['box_original']}" if event["box_original"] else "an image"
            print(f"  {event['tool']}: {event['error'] or shown}")
    print(f"answer: {answer!r}")


if __name__ == "__main__":
    main()

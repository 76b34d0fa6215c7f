"""With the zoom alone, what the model reads and writes does not move: the token ids, texts and observations of
scripted episodes (v2, v5 and the compact prompt; a crop, a bad box, an unknown tool, an unparsable call) and of the
embedded model's README episode equal those recorded before tools became asynchronous (tests/data), under
``invoke`` and under ``ainvoke`` alike."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import answer, tool_call
from PIL import Image, ImageDraw

from deepeyes_agent.backends import ScriptedBackend, TransformersBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.trajectory import Trajectory

RECORDED = json.loads((Path(__file__).parent / "data" / "zoom_only_trajectories.json").read_text())
KEPT = ("kind", "token_ids", "text", "tool", "error", "box_model", "box_original", "think", "answer", "tool_call",
        "tool_calls", "format_errors", "finish_reason")  # fmt: skip
SCRIPTS = {
    "zoom_then_answer": [tool_call([400, 300, 520, 420]), answer("red")],
    "bad_box_then_unknown_then_answer": [
        tool_call([1, 1, 2, 2]),
        tool_call([10, 10, 200, 200], name="nope"),
        "<think>x</think>\n<tool_call>\nnot json\n</tool_call><|im_end|>",
        answer("red"),
    ],
}
CONFIGS = {"v2": {}, "v5": {"max_calls_per_turn": 3}, "compact": {"prompt_style": "compact"}}
README = {
    "image": "examples/images/signs.png",
    "question": "What pattern is on the orange sign?",
    "options": ["vertical stripes", "diagonal stripes", "checkerboard", "horizontal stripes"],
}


def digest(out: dict) -> dict:
    traj = Trajectory.from_state(out).model_dump(mode="json")
    return {
        "prompt_ids": traj["prompt_ids"],
        "segments": [{k: s.get(k) for k in KEPT} for s in traj["segments"]],
        "answer": traj["answer"],
        "stop_reason": traj["stop_reason"],
        "truncated": traj["truncated"],
    }


@pytest.fixture(scope="module")
def shipped():
    return TransformersBackend.from_pretrained(default_model_dir())


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    img = Image.new("RGB", (2000, 1500), (200, 220, 240))
    ImageDraw.Draw(img).rectangle([900, 700, 999, 799], fill=(220, 30, 30))
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    img.save(path)
    return path


@pytest.mark.parametrize("api", ["invoke", "ainvoke"])
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("script", SCRIPTS)
def test_scripted_zoom_episodes_are_unchanged(shipped, scene, tmp_path, script, config, api):
    graph = create_visual_agent(
        ScriptedBackend(shipped.processor, list(SCRIPTS[script])),
        config=AgentConfig(**CONFIGS[config]),
        image_store=ImageStore(tmp_path),
    )
    inputs = {"image": str(scene), "question": "Which colour?", "options": ["blue", "red"]}
    out = graph.invoke(inputs) if api == "invoke" else asyncio.run(graph.ainvoke(inputs))
    assert digest(out) == RECORDED[f"{script}/{config}"]


@pytest.mark.parametrize("api", ["invoke", "ainvoke"])
def test_the_embedded_models_readme_episode_is_unchanged(shipped, tmp_path, api):
    graph = create_visual_agent(shipped, image_store=ImageStore(tmp_path))
    out = graph.invoke(README) if api == "invoke" else asyncio.run(graph.ainvoke(README))
    assert digest(out) == RECORDED["embedded/readme"]

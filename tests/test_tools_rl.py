"""RL over two tools, end to end on the embedded model with an instructed policy: on a scene photographed sideways the
rotation leads to the right answer, on an upright scene the zoom does. GRPO on the DeepEyes reward (its tool bonus
paid for any image a tool returned) makes the policy prefer the right tool for each kind of question: the
teacher-forced episodes' logprobs are the model's own, so the update moves the model itself."""

import json

import pytest
import torch
from PIL import Image

from deepeyes_agent.backends import GenerationRequest, SamplingParams, ScriptedBackend, TransformersBackend
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.rl.config import TrainConfig
from deepeyes_agent.rl.trainer import LocalTrainer
from deepeyes_agent.tools import Toolbox

ROTATE = '<think>sideways</think>\n<tool_call>\n{"name": "image_rotate_tool", "arguments": {"angle": 90}}\n</tool_call><|im_end|>'
ZOOM = '<think>small</think>\n<tool_call>\n{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [20, 20, 120, 120]}}\n</tool_call><|im_end|>'
SIDEWAYS = "The photo is sideways. Which way do the stripes run?"
UPRIGHT = "What is on the small sign?"


@pytest.fixture
def rows(tmp_path, scene_path):
    upright = Image.open(scene_path).convert("RGB")
    upright.rotate(90, expand=True).save(tmp_path / "sideways.png")
    upright.save(tmp_path / "upright.png")
    lines = [
        {"image": "sideways.png", "question": SIDEWAYS, "options": ["vertical", "horizontal"], "answer": "vertical"},
        {"image": "upright.png", "question": UPRIGHT, "options": ["checkerboard", "plain"], "answer": "checkerboard"},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def instructed(policy):
    """The first turn picks a tool by the episode's seed (rotate, zoom, or none); after the tool, the answer is right
    only when the tool suits the question — the world this policy lives in."""
    tokenizer = policy.processor.tokenizer

    def script(request: GenerationRequest, turn: int) -> str:
        prompt = tokenizer.decode(request.prompt_ids)
        sideways = "sideways" in prompt.split("Question:")[1].split("Options:")[0]  # the question, not the thinking
        options = prompt.split("Options:")[1]
        right = "vertical" if sideways else "checkerboard"
        wrong = "horizontal" if sideways else "plain"
        letter = lambda word: "A" if f"A. {word}" in options else "B"  # noqa: E731  (options are shuffled)
        if "<tool_response>" not in prompt:
            choice = request.sampling.seed % 3
            return [ROTATE, ZOOM, f"<think>guess</think>\n<answer>{letter(wrong)}</answer><|im_end|>"][choice]
        turns = prompt.split("<|im_start|>assistant", 1)[1]  # the episode's own turns: the prompts name both tools
        used_rotate = '"name": "image_rotate_tool"' in turns
        return f"<think>seen</think>\n<answer>{letter(right if used_rotate == sideways else wrong)}</answer><|im_end|>"

    return ScriptedBackend(policy.processor, script, model=policy)


def first_turn_logprob(policy, prompt_ids, image, text) -> float:
    ids = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
    request = GenerationRequest(prompt_ids, [image], SamplingParams(max_tokens=len(ids), temperature=0.0))
    return sum(policy.force(request, ids).logprobs)


def test_grpo_over_two_tools_prefers_the_tool_each_question_needs(rows, tmp_path, store):
    """On the embedded model (it reads the question: a random tiny model's first turn barely depends on it)."""
    policy = TransformersBackend.from_pretrained(default_model_dir())
    cfg = TrainConfig(
        data=rows, out=tmp_path / "run", steps=6, prompts_per_step=2, rollouts_per_prompt=6,
        lr=1e-4, max_new_tokens=64, max_turns=3, threads=1, tools=["zoom", "rotate"], save_every=100,
    )  # fmt: skip
    trainer = LocalTrainer(cfg, backend=instructed(policy), store=store)
    prompt_builder = Toolbox.for_config(trainer.agent_config).prompt_builder(policy.processor)
    assert "image_rotate_tool" in prompt_builder.system_prompt and "image_zoom_in_tool" in prompt_builder.system_prompt
    sideways = Image.open(rows.parent / "sideways.png").convert("RGB")
    upright = Image.open(rows.parent / "upright.png").convert("RGB")
    prompts = {
        "sideways": (prompt_builder.prompt_ids(sideways, SIDEWAYS, ["vertical", "horizontal"]), sideways),
        "upright": (prompt_builder.prompt_ids(upright, UPRIGHT, ["checkerboard", "plain"]), upright),
    }

    def preference() -> dict[str, float]:
        """log p(rotate call) − log p(zoom call) as the first turn of each question."""
        return {
            kind: first_turn_logprob(policy, ids, image, ROTATE) - first_turn_logprob(policy, ids, image, ZOOM)
            for kind, (ids, image) in prompts.items()
        }

    before = preference()
    records = []
    trainer.run(log=records.append)
    after = preference()
    assert all(r["trained_trajectories"] > 0 for r in records)
    assert sum(r.get("tool_calls/image_rotate_tool", 0) for r in records) > 0
    assert sum(r.get("tool_calls/image_zoom_in_tool", 0) for r in records) > 0
    rewards = [r["reward"] for r in records]
    assert max(rewards) > 1.0  # right answers after a tool's image: 0.8 + 1.2
    # the sideways question learned toward the rotation, the upright one toward the zoom
    assert after["sideways"] - before["sideways"] > 0.5
    assert after["upright"] - before["upright"] < -0.5
    saved = json.loads((tmp_path / "run" / "checkpoint" / "deepeyes_agent.json").read_text())
    assert saved["tools"] == ["zoom", "rotate"]  # the checkpoint remembers its tools
    assert torch.isfinite(torch.tensor(rewards)).all()

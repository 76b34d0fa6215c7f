"""deepeyes-agent pretrain: a short run learns something, and a SIGKILLed run resumes to the same weights."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import kill_at_first_checkpoint
from safetensors.torch import load_file

from deepeyes_agent.pretrain.config import PretrainConfig
from deepeyes_agent.pretrain.tasks import TASKS

SMALL = {
    "steps": 6,
    "batch_size": 2,
    "eval_every": 1000,
    "eval_samples": 2,
    "checkpoint_every": 2,
    "threads": 1,
    "warmup_steps": 2,
    "attention_supervision_layer": 1,
    "aux_position_layer": 1,
    "colour_binding_weight": 0.5,
    "task_weights": {
        "ground": 0.3,
        "zoom_instruction": 0.1,
        "read_crop": 0.2,
        "direct": 0.1,
        "explore": 0.1,
        "zoom_followup": 0.1,
        "chat_followup": 0.1,
        "zoom_after_answer": 0.1,
        "zoom_to_answer": 0.1,
    },  # every task, multi-turn rows and the cold start's chain included
    "spec": {
        "hidden_size": 64,
        "num_layers": 2,
        "num_heads": 2,
        "num_kv_heads": 1,
        "intermediate_size": 128,
        "vision_depth": 1,
        "vision_hidden": 32,
        "vision_heads": 2,
        "vision_intermediate": 64,
        "min_pixels": 112 * 112,
        "max_pixels": 112 * 112,
    },
}


def _pretrain(out, config, *, wait=True):
    cmd = [sys.executable, "-m", "deepeyes_agent.cli", "pretrain", "--out", str(out), "--config", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


@pytest.mark.slow
def test_sigkill_then_resume_reproduces_the_uninterrupted_run(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    done = _pretrain(tmp_path / "straight", config)
    assert done.returncode == 0, done.stderr[-2000:]

    killed_at = kill_at_first_checkpoint(_pretrain(tmp_path / "killed", config, wait=False), tmp_path / "killed")
    assert killed_at < SMALL["steps"], "the run finished before it could be killed"
    resumed = _pretrain(tmp_path / "killed", config)
    assert resumed.returncode == 0 and f"resumed from step {killed_at}" in resumed.stdout

    a = load_file(tmp_path / "straight" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "checkpoint" / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    metrics = [line for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) >= SMALL["steps"]  # the steps after the checkpoint were redone, none lost


def test_config_round_trips_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"steps": 7, "lr": 0.01}))
    cfg = PretrainConfig.from_yaml(path, out=tmp_path)
    assert cfg.steps == 7 and cfg.lr == 0.01 and set(cfg.task_weights) == set(TASKS)


RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "embedded_model"


def test_the_embedded_models_recipe_is_a_chain_of_stages():
    """Each stage file loads (extends: resolved, unknown keys refused) and starts from the one before it."""
    stages = sorted(RECIPE.glob("stage*.yaml"))
    assert len(stages) >= 10
    configs = [PretrainConfig.from_yaml(path, out=f"runs/embedded/{path.stem}") for path in stages]
    assert configs[0].init_from is None
    for before, cfg in zip(configs, configs[1:]):
        assert cfg.init_from == before.out / "checkpoint"
    assert all(c.box_grid == 14 for c in configs)  # from base.yaml, through continue.yaml


def test_a_config_file_with_an_unknown_setting_is_refused(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("stpes: 7\n")
    with pytest.raises(ValueError, match="stpes"):
        PretrainConfig.from_yaml(path, out=tmp_path)


def test_a_config_naming_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown pretraining task"):
        PretrainConfig(out="x", task_weights={"ground": 1.0, "zoom_to_anwser": 0.5})


def test_the_chain_is_taught_only_in_the_shipped_models_cold_start():
    """``zoom_to_answer`` is the question → zoom → crop → answer chain itself (DeepEyesV2's cold start): no stage
    of the base model draws it — RL's emergence is shown from the base — only the cold start that follows the
    exported base, on the way to the shipped model."""
    import random

    from deepeyes_agent.data.zoomworld import PATTERNS
    from deepeyes_agent.pretrain.tasks import COLD_START_TASKS, make_sample

    for path in sorted(RECIPE.glob("stage*.yaml")):
        weights = PretrainConfig.from_yaml(path, out="x").task_weights
        assert not any(weights.get(task, 0) for task in COLD_START_TASKS), path.name
    cold = PretrainConfig.from_yaml(RECIPE / "cold_start.yaml", out="x")
    assert cold.init_from == Path("deepeyes_agent/assets/base_model") and cold.task_weights["zoom_to_answer"] > 0
    from rl.config import TrainConfig  # then RL from the exported cold-start model, as the recipe's comment says

    rl = TrainConfig.from_yaml(RECIPE / "rl.yaml", out="x")
    assert f"--export {rl.model}" in (RECIPE / "cold_start.yaml").read_text()

    s = make_sample(
        random.Random(4), "zoom_to_answer", lambda w, h: (280, 280), box_grid=14, ground_margin=2.4, crop_reply="think"
    )
    (crop,) = s.followups
    assert s.user_text.startswith("What pattern is on") and "<tool_call>" in s.target and "<answer>" not in s.target
    assert crop.kind == "tool" and crop.image is not None and crop.key_spans[0] in PATTERNS
    assert crop.target.endswith(f"<answer>{crop.key_spans[0]}</answer>") and s.truth["colour"] in crop.target
    x1, y1, x2, y2 = s.truth["box"]
    sx1, sy1, sx2, sy2 = s.truth["sign"]
    assert x1 <= sx1 and y1 <= sy1 and x2 >= sx2 and y2 >= sy2  # the zoom holds the whole sign


def test_no_sample_holds_the_question_zoom_crop_answer_chain():
    """Skills are never chained: a target is an answer OR a tool call, never both, and no prompt holds a
    crop as a tool response. The exploration prior meets questions with a zoom on their target only; the
    tool loop follows "zoom in on X" instructions only (first turn, or a later turn after a question was
    answered directly); a crop with a question arrives only in a user turn."""
    import random

    from deepeyes_agent.pretrain.tasks import make_sample

    rng = random.Random(3)
    for task in TASKS:
        for _ in range(20):
            s = make_sample(rng, task, lambda w, h: (280, 280), box_grid=14, ground_margin=2.4)
            assert ("<tool_call>" in s.target) != ("<answer>" in s.target)
            assert "<tool_response>" not in s.user_text
            # each turn as (kind, user text or None for a crop, options, the assistant's reply, has an image)
            turns = [("user", s.user_text, s.options, s.target, True)]
            turns += [(f.kind, f.question, f.options, f.target, f.image is not None) for f in s.followups]
            for (kind, text, _options, reply, image), previous in zip(turns[1:], turns):
                assert ("<tool_call>" in reply) != ("<answer>" in reply)
                if kind == "tool":  # a crop answers a call made on an instruction to zoom, never on a question
                    _, asked, asked_options, call, _ = previous
                    assert "<tool_call>" in call and asked_options is None and "Question" not in asked
                    assert asked.split()[0] in ("Zoom", "Take") and "<answer>" in reply
                elif image:  # an image in a user turn, after a finished grounding exchange
                    assert "<answer>" in previous[3] and "<tool_call>" not in previous[3] and "<answer>" in reply
                else:  # a text-only instruction to zoom, after a question answered directly
                    assert task == "zoom_after_answer" and "<answer>" in previous[3] and previous[2]
                    assert text.split()[0] in ("Zoom", "Take") and "<tool_call>" in reply
            if task == "zoom_after_answer":
                assert [f.kind for f in s.followups] == ["user", "tool"] and s.options
            if task == "explore":
                assert s.options and "<tool_call>" in s.target and s.truth["colour"] in s.target
                x1, y1, x2, y2 = s.truth["box"]
                assert all(v % 14 == 0 or v == 280 for v in s.truth["box"])
                sx1, sy1, sx2, sy2 = s.truth["sign"]
                assert x1 <= sx1 and y1 <= sy1 and x2 >= sx2 and y2 >= sy2  # the box contains the sign


def test_the_reply_to_a_crop_is_worded_as_configured():
    """The tool loop's last reply names what the crop shows: as an answer sentence (stages 4–9), or that
    sentence in the thinking and the answer in a reading answer's words (``crop_reply="think"``); the same
    scene either way, and a typo is refused."""
    import random

    from deepeyes_agent.data.zoomworld import PATTERNS
    from deepeyes_agent.pretrain.tasks import make_sample

    view = lambda w, h: (280, 280)  # noqa: E731
    for task in ("zoom_followup", "zoom_after_answer"):
        sentence = make_sample(random.Random(5), task, view, crop_reply="sentence").followups[-1]
        think = make_sample(random.Random(5), task, view, crop_reply="think").followups[-1]
        seen = think.key_spans[0]
        said = f"The pattern on the {sentence.target.split()[3]} sign is {seen}."
        assert seen in PATTERNS and sentence.key_spans == think.key_spans
        assert sentence.target.endswith(f"up close.</think>\n<answer>{said}</answer>")
        assert think.target.endswith(f"up close. {said}</think>\n<answer>{seen}</answer>")
    with pytest.raises(ValueError, match="crop_reply"):
        make_sample(random.Random(5), "zoom_followup", view, crop_reply="Pattern")


def test_every_sign_has_a_labelled_image_token():
    """The colour probe and the attention pointer need the target's image tokens: a sign smaller than a
    token (a far scene seen at 280 px) still gets the token under its centre."""
    import random

    import torch

    from deepeyes_agent.models import default_model_dir, load_processor
    from deepeyes_agent.pretrain.batch import COLOUR_CLASSES, collate, token_labels
    from deepeyes_agent.pretrain.skills import view_size_fn
    from deepeyes_agent.pretrain.tasks import make_sample
    from deepeyes_agent.prompts import PromptBuilder

    processor = load_processor(default_model_dir(), image_backend="pil")
    builder = PromptBuilder(processor, "")
    rng = random.Random(5)
    samples = [
        make_sample(rng, "ground", view_size_fn(processor.image_processor), sign_size=(40, 60)) for _ in range(8)
    ]
    batch = collate(builder, samples, 4.0, processor.tokenizer.pad_token_id, torch.float32)
    colours, _ = token_labels(batch, merge=2)
    start = 0
    for sample, (_, h, w) in zip(samples, batch.vision["image_grid_thw"].tolist()):
        cells = colours[start : start + (h // 2) * (w // 2)].tolist()
        start += (h // 2) * (w // 2)
        for _, name, _ in sample.regions:
            assert COLOUR_CLASSES.index(name) in cells, (name, sample.regions)


def test_relation_reasoning_grounds_both_signs_and_its_comparison_gives_the_answer():
    """A relative-position question answered from the full view says both boxes in the grounding answer's words,
    compares their first coordinates on the asked axis — which order the signs as the answer does — and its first
    box's numbers are where the grounding losses look."""
    import json
    import random
    import re

    import torch

    from deepeyes_agent.models import default_model_dir, load_processor
    from deepeyes_agent.pretrain.batch import box_queries, collate
    from deepeyes_agent.pretrain.skills import view_size_fn
    from deepeyes_agent.pretrain.tasks import make_sample
    from deepeyes_agent.prompts import PromptBuilder

    processor = load_processor(default_model_dir(), image_backend="pil")
    view_size = view_size_fn(processor.image_processor)
    rng = random.Random(7)
    samples = [
        make_sample(rng, "direct", view_size, relation_reasoning=True, box_grid=14, ground_margin=2.4)
        for _ in range(40)
    ]
    relational = [s for s in samples if s.truth["n_options"] == 2]
    assert len(relational) >= 10
    for s in relational:
        boxes = [json.loads(m) for m in re.findall(r'"bbox_2d": (\[[^\]]*\])', s.target)]
        a, comparison, b = re.search(r"(\d+) is (less|more) than (\d+)\.", s.target).groups()
        axis = 0 if s.truth["answer"] in ("left", "right") else 1
        assert [int(a), int(b)] == [boxes[0][axis], boxes[1][axis]]
        assert (comparison == "less") == (s.truth["answer"] in ("left", "above")) == (int(a) < int(b))
    builder = PromptBuilder(processor, "")
    batch = collate(builder, relational[:4], 4.0, processor.tokenizer.pad_token_id, torch.float32)
    queries = box_queries(builder, batch)
    assert len(queries) == 4 and all(len(q) == 4 for _, q, _ in queries)

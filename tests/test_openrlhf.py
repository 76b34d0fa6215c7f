"""The OpenRLHF agent, proven against OpenRLHF's own code (0.11.2, installed --no-deps on CPU):
its agent loader, its experience code, its Actor forward and its train_ppo_ray argument parser."""

from __future__ import annotations

import asyncio
import json
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import torch
from conftest import answer, tool_call
from openrlhf_harness import VLLMShapedEngine, openrlhf_on_cpu, vllm_sampling_params
from typer.testing import CliRunner

from deepeyes_agent.backends import ScriptedBackend, TransformersBackend
from deepeyes_agent.cli import app
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.judges import OptionJudge, Truth
from deepeyes_agent.models.forward import mm_token_type_ids
from deepeyes_agent.models.vllm_folder import STOCK_PROCESSORS, processor_class
from deepeyes_agent.rl.openrlhf import AGENT_FILE
from deepeyes_agent.rl.reward import compute_reward
from deepeyes_agent.trajectory import Trajectory

OPTIONS = ["checkerboard", "stripes", "dots", "plain"]
LABEL = json.dumps({"answer": "checkerboard", "options": OPTIONS, "answer_index": 0})
QUESTION = "What is the pattern inside the red square?"


@pytest.fixture(scope="module")
def bf16_dir(tiny_dir, tmp_path_factory):
    """The tiny model with bf16-representable weights (as real checkpoints ship), stored in float32:
    OpenRLHF's Actor loads in bf16 and, cast back, holds exactly the rollout model's weights."""
    from transformers import AutoModelForImageTextToText

    from deepeyes_agent.models.processor import load_processor

    path = tmp_path_factory.mktemp("tiny-bf16")
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir, dtype=torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    model.save_pretrained(path)
    load_processor(tiny_dir).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def policy(bf16_dir):
    return TransformersBackend.from_pretrained(bf16_dir)


@pytest.fixture(scope="module")
def orl():
    with openrlhf_on_cpu():
        yield


def zoom_then_answer(request, turn):
    """Turn 1 (only the original image so far): zoom; turn 2 (a crop came back): answer."""
    return tool_call([40, 30, 90, 80]) if len(request.images) == 1 else answer("checkerboard")


@pytest.fixture
def settings_env(tmp_path, monkeypatch):
    from deepeyes_agent.rl.openrlhf.settings import ENV_VAR, AgentSettings

    path = AgentSettings(agent=AgentConfig(max_turns=3)).write(tmp_path / "agent_settings.json")
    monkeypatch.setenv(ENV_VAR, str(path))
    return path


@pytest.fixture
def response(orl, settings_env, policy, processor, scene_path):
    """execute() on the agent file OpenRLHF loads, with its own loader; a zoom turn then an answer."""
    from openrlhf.trainer.ray.vllm_engine import _load_agent_executor

    executor = _load_agent_executor(str(AGENT_FILE))  # spec_from_file_location, AgentExecutor(), issubclass check
    engine = VLLMShapedEngine(ScriptedBackend(processor, zoom_then_answer, model=policy), processor)
    out = asyncio.run(
        executor.execute(
            QUESTION, LABEL, vllm_sampling_params(max_tokens=64), 4096, processor, engine, images=[str(scene_path)]
        )
    )
    out["_engine_calls"] = engine.calls
    return out


def test_agent_file_is_what_openrlhf_loads(orl, settings_env):
    from openrlhf.trainer.ray.vllm_engine import _load_agent_executor
    from openrlhf.utils.agent import AgentExecutorBase

    executor = _load_agent_executor(str(AGENT_FILE))
    assert isinstance(executor, AgentExecutorBase)
    assert executor.settings.agent.max_turns == 3  # read from DEEPEYES_OPENRLHF_SETTINGS


def test_execute_returns_openrlhf_contract(response, processor):
    from deepeyes_agent.rl.openrlhf.response import check_response

    check_response(
        response, processor.tokenizer.convert_tokens_to_ids("<|image_pad|>"), processor.image_processor.merge_size
    )
    assert len(response["action_ranges"]) == 2  # the zoom turn and the answer turn
    assert response["mm_train_inputs"]["image_grid_thw"].shape[0] == 2  # original + crop, in order
    assert response["extra_logs"]["crops"] == 1.0 and response["extra_logs"]["turns"] == 2.0
    calls = response["_engine_calls"]
    assert [c["images"] for c in calls] == [1, 2]  # every image so far goes to the engine
    assert all(c["logprobs"] is not None for c in calls)


@pytest.mark.parametrize(
    "tool, call",
    [
        ("enhance", '{"name": "enhance", "arguments": {"region": [40, 30, 90, 80]}}'),  # a @visual_tool function
        ("describe_size", '{"name": "describe_size", "arguments": {"detail": "size"}}'),  # a LangChain BaseTool
        ("corner", '{"name": "corner", "arguments": {"size": 64}}'),  # an MCP server's, connected by the worker
    ],
)
def test_the_executor_runs_the_tools_its_settings_name(
    tool, call, orl, policy, processor, scene_path, tmp_path, monkeypatch
):
    """A user's tool, named by import path in the agent settings (as the Ray workers get them): executed on
    OpenRLHF's engine, its image in the training inputs, its call counted per tool, its image paid the bonus."""
    from openrlhf.trainer.ray.vllm_engine import _load_agent_executor

    from deepeyes_agent.rl.openrlhf.response import check_response
    from deepeyes_agent.rl.openrlhf.settings import ENV_VAR, AgentSettings

    if tool == "corner":
        server = str(Path(__file__).with_name("mcp_server.py"))
        agent = AgentConfig(
            max_turns=3, mcp={"vision": {"transport": "stdio", "command": sys.executable, "args": [server]}}
        )
    else:
        agent = AgentConfig(max_turns=3, tools=["zoom", f"tool_fixtures:{tool}"])
    monkeypatch.setenv(ENV_VAR, str(AgentSettings(agent=agent).write(tmp_path / "settings.json")))
    executor = _load_agent_executor(str(AGENT_FILE))

    def tool_then_answer(request, turn):
        if len(request.images) == 1:
            return f"<think>x</think><tool_call>{call}</tool_call><|im_end|>"
        return answer("checkerboard")

    engine = VLLMShapedEngine(ScriptedBackend(processor, tool_then_answer, model=policy), processor)
    out = asyncio.run(
        executor.execute(
            QUESTION, LABEL, vllm_sampling_params(max_tokens=64), 4096, processor, engine, images=[str(scene_path)]
        )
    )
    check_response(
        out, processor.tokenizer.convert_tokens_to_ids("<|image_pad|>"), processor.image_processor.merge_size
    )
    assert out["mm_train_inputs"]["image_grid_thw"].shape[0] == 2  # the original and the tool's image
    logs = out["extra_logs"]
    assert logs[f"tool_calls/{tool}"] == 1.0 and logs["tool_calls/image_zoom_in_tool"] == 0.0
    assert logs[f"tool_errors/{tool}"] == 0.0 and logs[f"tool_latency_ms/{tool}"] > 0
    assert out["reward"] == pytest.approx(2.0)  # right, after an image a tool returned


def test_same_trajectory_and_reward_as_the_graph(response, policy, processor, scene_path):
    """The OpenRLHF path is the graph: same tokens, same DeepEyes reward (0.8 acc + 1.2 tool bonus)."""
    graph = create_visual_agent(
        ScriptedBackend(processor, zoom_then_answer, model=policy),
        config=AgentConfig(max_turns=3, max_context_tokens=4096),
    )
    state = graph.invoke({"image": str(scene_path), "question": QUESTION, "options": OPTIONS})
    traj = Trajectory.from_state(state)
    assert response["observation_tokens"] == traj.input_ids()
    truth = Truth(answer="checkerboard", options=tuple(OPTIONS), answer_index=0)
    reward = compute_reward(traj, truth, OptionJudge())
    assert response["reward"] == pytest.approx(reward.total) == pytest.approx(2.0)


def test_model_forward_reproduces_rollout_logprobs(response, policy):
    """observation_tokens + mm_train_inputs through the model, as OpenRLHF's actor feeds it."""
    model = policy.model
    ids = torch.tensor([response["observation_tokens"]])
    mm = response["mm_train_inputs"]
    with torch.no_grad():
        logits = model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            mm_token_type_ids=mm_token_type_ids(ids, model.config.image_token_id),
            pixel_values=mm["pixel_values"],
            image_grid_thw=mm["image_grid_thw"],
        ).logits.float()
    logp = torch.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
    rollout = torch.tensor(response["rollout_log_probs"][1:])
    for start, end in response["action_ranges"]:
        assert torch.allclose(logp[start - 1 : end - 1], rollout[start - 1 : end - 1], atol=1e-3)


def test_openrlhf_experience_and_actor_agree_with_rollout(response, bf16_dir):
    """OpenRLHF's own Experience construction and its Actor wrapper (the model it trains) give the
    rollout's logprobs on every action token."""
    from openrlhf.models import Actor
    from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator
    from openrlhf.utils.vlm_utils import merge_mm_train_inputs

    generator = SamplesGenerator.__new__(SamplesGenerator)
    experience = generator._process_response_into_experience(response, max_len=4096)
    assert experience.rewards.item() == pytest.approx(response["reward"])
    actor = Actor(str(bf16_dir), attn_implementation="eager", param_dtype="bf16")
    actor.model.float()  # compare in float32
    actor.eval()
    mm = merge_mm_train_inputs(experience.mm_train_inputs, "cpu")
    with torch.no_grad():
        logp = actor(experience.sequences, experience.action_mask, attention_mask=experience.attention_mask, **mm)
    mask = experience.action_mask.bool()
    assert mask.sum() == sum(e - s for s, e in response["action_ranges"])
    assert torch.allclose(logp[mask], experience.rollout_log_probs[mask].float(), atol=1e-3)


def test_dry_run_command_is_accepted_by_openrlhfs_parser(orl, tmp_path, monkeypatch):
    import argparse

    import ray

    from deepeyes_agent.data.zoomworld import generate

    rows = generate(tmp_path / "zw", n=6, seed=3)
    result = CliRunner().invoke(
        app,
        [
            "openrlhf",
            "train",
            "--dry-run",
            "--data",
            str(rows),
            "--out",
            str(tmp_path / "run"),
            "--rollouts-per-prompt",
            "4",
            "--prompts-per-step",
            "4",
            "--gpus-per-node",
            "8",
            "--lora-rank",
            "64",
        ],
    )
    assert result.exit_code == 0, result.output
    command = shlex.split(result.output[result.output.index("ray job submit") :].replace("\\\n", " "))
    args = command[command.index("openrlhf.cli.train_ppo_ray") + 1 :]

    parsed = {}

    class Reached(Exception):
        pass

    real_parse = argparse.ArgumentParser.parse_args

    def parse_args(self, *a, **kw):
        parsed["args"] = real_parse(self, *a, **kw)
        return parsed["args"]

    def stop(*_a, **_k):
        raise Reached  # train(args) started: parsing and every post-parse assertion passed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
    monkeypatch.setattr(ray, "is_initialized", stop)
    monkeypatch.setattr(sys, "argv", ["train_ppo_ray", *args])
    with pytest.raises(Reached):
        runpy.run_module("openrlhf.cli.train_ppo_ray", run_name="__main__")
    ns = vars(parsed["args"])
    assert ns["algo.advantage.estimator"] == "group_norm"
    assert ns["rollout.n_samples_per_prompt"] == 4 and ns["train.batch_size"] == 16
    assert ns["data.max_images_per_prompt"] == 6  # 1 + max_turns (5)
    assert ns["ds.lora.rank"] == 64 and ns["ds.lora.alpha"] == 128  # LoRA through OpenRLHF's own flags
    assert ns["ds.lora.target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert ns["train.agent_func_path"] == str(AGENT_FILE) and AGENT_FILE.is_file()
    # the embedded model's folder as vLLM and OpenRLHF's AutoProcessor load it: the stock Qwen processor
    assert processor_class(Path(ns["actor.model_name_or_path"])) in STOCK_PROCESSORS
    exported = [json.loads(line) for line in open(ns["data.prompt_dataset"])]
    assert len(exported) == 6 and all(json.loads(r["label"])["answer"] for r in exported)
    env = json.loads(command[command.index("--runtime-env-json") + 1])["env_vars"]
    settings = json.loads(open(env["DEEPEYES_OPENRLHF_SETTINGS"]).read())
    assert settings["agent"]["max_turns"] == 5


def test_too_few_rollouts_for_the_gpus_is_refused_before_launch(tmp_path):
    from deepeyes_agent.data.zoomworld import generate

    rows = generate(tmp_path / "zw", n=2, seed=3)
    result = CliRunner().invoke(
        app,
        [
            "openrlhf",
            "train",
            "--dry-run",
            "--data",
            str(rows),
            "--out",
            str(tmp_path / "run"),
            "--rollouts-per-prompt",
            "2",
            "--prompts-per-step",
            "2",
        ],
    )
    assert result.exit_code != 0
    assert "actor GPUs without a batch" in str(result.exception)


@pytest.mark.parametrize("command", ["rollout", "train"])
def test_a_tool_that_does_not_import_stops_the_command_before_any_engine(command, tmp_path):
    """The tools resolve where the command runs first: a bad one is one line (exit 2), before Ray or an engine."""
    import ray

    from deepeyes_agent.data.zoomworld import generate
    from deepeyes_agent.errors import InputError

    rows = generate(tmp_path / "zw", n=2, seed=3)
    args = ["openrlhf", command, "--data", str(rows), "--out", str(tmp_path / "run"), "--tools", "zoom,nosuch.mod:x"]
    result = CliRunner().invoke(app, args + (["--dry-run"] if command == "train" else []))
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == "tool nosuch.mod:x cannot be imported: No module named 'nosuch'"
    assert not ray.is_initialized() and not (tmp_path / "run" / "openrlhf" / "prompts.jsonl").exists()


def test_export_reports_bad_rows_and_shuffles_options(tmp_path):
    from deepeyes_agent.data.zoomworld import generate
    from deepeyes_agent.rl.openrlhf.export import export_openrlhf

    rows = generate(tmp_path / "zw", n=40, seed=5)
    lines = rows.read_text().splitlines()
    image = json.loads(lines[0])["image"]
    lines.insert(3, json.dumps({"image": "missing.png", "question": "q?", "options": ["a", "b"], "answer_index": 0}))
    lines.insert(5, "{not json")
    lines.append(
        json.dumps(
            {
                "images": [image],
                "prompt": [{"role": "user", "content": "<image>\nWhat is shown?"}],
                "reward_model": {"ground_truth": "a sign"},
            }
        )
    )
    src = rows.parent / "mixed.jsonl"  # image paths are relative to the JSONL
    src.write_text("\n".join(lines) + "\n")
    report = export_openrlhf(src, tmp_path / "out.jsonl", seed=0)
    assert report.written == 41
    assert [s["line"] for s in report.skipped] == [4, 6]
    assert "missing.png" in report.skipped[0]["reason"]
    out = [json.loads(line) for line in open(tmp_path / "out.jsonl")]
    assert out[-1]["prompt"] == "What is shown?" and json.loads(out[-1]["label"]) == {
        "answer": "a sign",
        "question": "What is shown?",
    }
    labels = [json.loads(r["label"]) for r in out[:-1]]
    assert all(lab["options"][lab["answer_index"]] == lab["answer"] for lab in labels)
    assert len({lab["answer_index"] for lab in labels if len(lab["options"]) == 4}) == 4  # not always "A"
    assert all(r["images"][0].startswith("/") for r in out)

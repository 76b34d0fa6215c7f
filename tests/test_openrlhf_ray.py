"""OpenRLHF's real Ray rollout side on CPU: ``deepeyes-agent openrlhf rollout`` starts a local Ray (one logical GPU),
OpenRLHF's ``create_vllm_engines`` with this library's agent file (a real ``RolloutRayActor`` over vLLM's CPU build),
its ``PromptDataset`` and ``SamplesGenerator`` dispatch — and the shipped embedded model zooms on zoom-world rows, so
crops, several images per prompt and every turn's image tokens go through OpenRLHF's engine actor into its
``Experience``s. One engine start serves every test here (about a minute in all on 2 cores).

The engine runs in float32 (``--engine-dtype float32``) so that OpenRLHF's ``Actor`` forward can be held to the
rollout logprobs within the tolerance of tests/test_openrlhf.py (1e-3); the bfloat16 engine ``train_ppo_ray`` runs
is the command's default (docs/openrlhf.md: the shipped model zooms and answers in bfloat16 too).
No skip: vLLM, Ray and OpenRLHF are installed by scripts/install.sh, and a missing one fails here.
"""

from __future__ import annotations

import json
import os
import re
from types import SimpleNamespace

import pytest
import torch
from openrlhf_harness import openrlhf_on_cpu
from typer.testing import CliRunner

from deepeyes_agent.cli import app
from deepeyes_agent.rl.openrlhf.response import check_response
from deepeyes_agent.rl.openrlhf.weights import WEIGHTS_LOG_VAR, weight_versions

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

ROWS, SAMPLES = 8, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``openrlhf rollout`` on 8 zoom-world rows (attribute questions: each needs a zoom), 2 rollouts each, with the
    zoom given as a user's tool by import path; the command returns its result when run in-process."""
    import ray

    from deepeyes_agent.data.zoomworld import generate

    work = tmp_path_factory.mktemp("openrlhf-ray")
    rows = generate(work / "zoomworld", n=ROWS, seed=0, attribute_share=1.0)
    calls, weights = work / "tool_calls.log", work / "engine_weights.jsonl"
    assert not ray.is_initialized()
    # the workers inherit these from the Ray the command starts
    os.environ.update({"TOOL_FIXTURES_CALL_LOG": str(calls), WEIGHTS_LOG_VAR: str(weights)})
    try:
        out = CliRunner().invoke(
            app,
            [
                "openrlhf",
                "rollout",
                "--data",
                str(rows),
                "--out",
                str(work / "run"),
                "--prompts-per-step",
                str(ROWS),
                "--rollouts-per-prompt",
                str(SAMPLES),
                "--tools",
                "tool_fixtures:WorkerZoom",
                "--engine-dtype",
                "float32",
            ],
            standalone_mode=False,
        )
    finally:
        del os.environ["TOOL_FIXTURES_CALL_LOG"], os.environ[WEIGHTS_LOG_VAR]
    assert out.exception is None, out.output
    assert not ray.is_initialized()  # the command shut its Ray down
    return SimpleNamespace(
        output=out.output, result=out.return_value, calls=calls, weights=weights, folder=work / "run"
    )


def _pad_runs(ids: list[int], pad: int) -> list[int]:
    runs, prev = [], None
    for t in ids:
        if t == pad:
            if prev == pad:
                runs[-1] += 1
            else:
                runs.append(1)
        prev = t
    return runs


@pytest.fixture(scope="module")
def shipped_processor(run):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(json.loads((run.folder / "summary.json").read_text())["model"])


def test_every_episode_becomes_an_experience_with_its_crops(run, shipped_processor):
    """Crops happen; each Experience's image grids match its sequence's image-pad runs, one grid per image (the
    original and one per crop), and the executor's dict keeps the contract OpenRLHF trains on."""
    result = run.result
    pad, merge = shipped_processor.image_token_id, shipped_processor.image_processor.merge_size
    assert len(result.experiences) == len(result.responses) == ROWS * SAMPLES
    for exp, response in zip(result.experiences, result.responses):
        check_response(response, pad, merge)
        mm = exp.mm_train_inputs[0]
        grids = mm["image_grid_thw"].tolist()
        assert _pad_runs(exp.sequences[0].tolist(), pad) == [t * h * w // merge**2 for t, h, w in grids]
        assert len(grids) == 1 + response["extra_logs"]["crops"]
        assert mm["pixel_values"].shape[0] == sum(t * h * w for t, h, w in grids)
        assert exp.action_mask.sum() == sum(end - start for start, end in response["action_ranges"])
        assert exp.rewards.item() == pytest.approx(response["reward"])
    cropped = [e for e in result.episodes if e.crops]
    assert len(cropped) >= ROWS  # measured: 14-16 of 16 at temperature 1
    assert all(e.turns >= 2 and e.images == 1 + e.crops for e in cropped)


def test_extra_logs_reach_the_experiences(run):
    """The per-tool call counts and reward parts the executor logs arrive in ``Experience.info`` (what OpenRLHF
    averages and logs each step)."""
    for exp, response in zip(run.result.experiences, run.result.responses):
        logs = response["extra_logs"]
        assert {"tool_calls/image_zoom_in_tool", "reward/accuracy", "reward/tool", "crops", "turns"} <= set(logs)
        assert {k: exp.info[k].item() for k in logs} == pytest.approx(logs)


def test_the_users_tool_ran_on_the_ray_workers(run):
    """The zoom named by import path (tool_fixtures lives in tests/, not in an installed package) was imported and
    run by the executor on OpenRLHF's engine actor, a Ray worker process — never by this one."""
    pids = run.calls.read_text().split()
    calls = sum(r["extra_logs"]["tool_calls/image_zoom_in_tool"] for r in run.result.responses)
    assert len(pids) == calls > 0
    assert str(os.getpid()) not in pids


def test_openrlhfs_actor_reproduces_the_engines_logprobs(run):
    """OpenRLHF's ``Actor`` (the model its DeepSpeed side trains) on the Experiences, float32 like the engine, gives
    the engine's logprobs on every action token — crops and every turn's image tokens included."""
    from transformers import AutoModelForImageTextToText

    model = json.loads((run.folder / "summary.json").read_text())["model"]
    with openrlhf_on_cpu(stub=("flash_attn",)):  # openrlhf.models imports flash_attn at module level
        from openrlhf.models import Actor
        from openrlhf.utils.vlm_utils import merge_mm_train_inputs

        actor = Actor(model, attn_implementation="eager", param_dtype="bf16")  # OpenRLHF loads bf16 or fp16 only
        actor.model.float()
        actor.model.load_state_dict(
            AutoModelForImageTextToText.from_pretrained(model, dtype=torch.float32).state_dict()
        )
        actor.eval()
        worst = 0.0
        for exp in run.result.experiences:
            mm = merge_mm_train_inputs(exp.mm_train_inputs, "cpu")
            with torch.no_grad():
                logp = actor(exp.sequences, exp.action_mask, attention_mask=exp.attention_mask, **mm)
            mask = exp.action_mask.bool()
            worst = max(worst, (logp[mask] - exp.rollout_log_probs[mask].float()).abs().max().item())
    assert worst < 1e-3  # measured: 3e-5


def test_the_engine_fingerprints_the_weights_it_holds(run):
    """What benchmarks/openrlhf_gpu.sh reads to tell a weight sync that landed from one that no-oped: each episode
    asked OpenRLHF's engine (vLLM's collective_rpc, run in its worker) for the sum of the weights it holds — one
    version here, as a rollout syncs nothing. (vLLM's CPU build repacks linear layers for oneDNN, so here the sum
    covers the weights it still holds as parameters; on a GPU, every weight.)"""
    import math

    versions = weight_versions(run.weights.read_text().splitlines())
    assert len(versions) == 1 and versions[0]["episodes"] == ROWS * SAMPLES
    assert versions[0]["dtype"] == "float32" and versions[0]["numel"] > 0 and math.isfinite(versions[0]["sum"])


def test_the_command_prints_each_episode_and_writes_trajectories_the_viewer_opens(run, tmp_path):
    lines = run.output.splitlines()
    assert sum(line.startswith("row ") for line in lines) == ROWS
    episode_lines = [line for line in lines if re.match(r"\s+\d+\s+turns \d+\s+crops \d+", line)]
    assert len(episode_lines) == ROWS * SAMPLES and all("reward" in line and "tokens" in line for line in episode_lines)
    assert "engine up" in run.output and "(float32)" in run.output
    summary = json.loads((run.folder / "summary.json").read_text())
    assert summary["episodes"] == ROWS * SAMPLES and summary["timings"]["engine_up_s"] > 0
    traces = sorted((run.folder / "trajectories").glob("*.json"))
    assert len(traces) == ROWS * SAMPLES
    cropped = next(e for e in run.result.episodes if e.crops)
    page = tmp_path / "page.html"
    out = CliRunner().invoke(
        app, ["view", str(cropped.trajectory), "--images", str(run.folder / "images"), "--out", str(page)]
    )
    assert out.exit_code == 0, out.output
    html = page.read_text()
    assert (
        cropped.question in html and "image 1: image_zoom_in_tool · box" in html
    )  # the crop, shown from the images the worker stored


def test_a_tool_missing_on_the_workers_fails_the_start_in_one_line(tmp_path):
    """A tool that imports here but not on a worker stops the engine's start (OpenRLHF builds the executor in the
    engine actor's __init__) with one line naming the worker — not a Ray traceback, not an error in every episode."""
    import ray

    from deepeyes_agent.cli.exit_codes import one_line
    from deepeyes_agent.data.zoomworld import generate
    from deepeyes_agent.errors import InputError

    rows = generate(tmp_path / "zoomworld", n=1, seed=0)
    out = CliRunner().invoke(
        app,
        ["openrlhf", "rollout", "--data", str(rows), "--out", str(tmp_path / "run"), "--prompts-per-step", "1"]
        + ["--rollouts-per-prompt", "2", "--tools", "zoom,driver_only_tool:count_pixels"],
    )
    assert isinstance(out.exception, InputError), out.output
    line = one_line(out.exception)
    assert line.startswith("on the Ray worker ") and "tool driver_only_tool:count_pixels cannot be imported" in line
    assert "install the tool's package on every node" in line and "Traceback" not in line
    assert not ray.is_initialized()

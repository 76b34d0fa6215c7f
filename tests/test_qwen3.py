"""Qwen3-VL through the same graph: its own chat template and processor (16-px patches, 2×2 merge), boxes read in
its 0..1000 frame and mapped to the original, token faithfulness over a 3-turn 2-crop trajectory, two GRPO steps,
and OpenRLHF's contract — on a tiny random Qwen3-VL built offline."""

import asyncio

import pytest
import torch
from conftest import answer, tool_call

from deepeyes_agent.backends import ScriptedBackend, TransformersBackend
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.models import TinyModelSpec, build_tiny_model
from deepeyes_agent.models.forward import score_tokens
from deepeyes_agent.trajectory import Trajectory
from deepeyes_agent.zoom import CoordinateFrame

SPEC = TinyModelSpec(
    family="qwen3-vl",
    hidden_size=128,
    num_heads=4,
    num_kv_heads=2,
    vision_depth=2,
    vision_hidden=64,
    min_pixels=64 * 64,
    max_pixels=512 * 512,
)


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory):
    """Weights rounded to bf16 (as real checkpoints ship) so OpenRLHF's bf16 Actor holds the same model."""
    path = tmp_path_factory.mktemp("tiny-qwen3")
    model, processor = build_tiny_model(None, SPEC)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def qwen3(qwen3_dir):
    return TransformersBackend.from_pretrained(qwen3_dir)


def test_the_folder_is_a_qwen3_vl_with_its_own_frame_and_processor(qwen3, qwen3_dir):
    assert qwen3.model.config.model_type == "qwen3_vl"
    ip = qwen3.processor.image_processor
    assert (ip.patch_size, ip.merge_size) == (16, 2)  # 32-px blocks
    assert AgentConfig.for_model(qwen3_dir).zoom.frame is CoordinateFrame.NORM_1000
    rendered = qwen3.processor.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"  # no default system message


def test_boxes_in_0_to_1000_crop_the_original_and_the_trajectory_is_token_faithful(qwen3, store, scene_path):
    """scene.png is 2000×1500: the 0..1000 box [450, 466, 500, 533] is the original's [900, 700, 1000, 800]."""
    script = [tool_call([450, 466, 500, 533]), tool_call([400, 400, 560, 600], think="closer"), answer("checkerboard")]
    graph = create_visual_agent(
        ScriptedBackend(qwen3.processor, script, model=qwen3),
        config=AgentConfig.for_model(qwen3.model_dir),
        image_store=store,
    )
    traj = Trajectory.from_state(graph.invoke({"image": str(scene_path), "question": "What is in the red square?"}))
    assert (traj.turns, traj.crops, len(traj.images)) == (3, 2, 3)
    assert traj.observations[0].box_original == [900, 699, 1000, 800]
    ids = traj.input_ids()
    scored = score_tokens(qwen3.model, qwen3.processor, ids, [store.get(r) for r in traj.images])
    mask = torch.tensor(traj.action_mask(), dtype=torch.bool)
    assert (scored[mask] - torch.tensor(traj.rollout_logprobs())[mask]).abs().max() < 1e-3


def test_two_grpo_steps_change_the_weights(qwen3_dir, tmp_path, store):
    from test_rl_trainer import varied_policy

    from deepeyes_agent.data.zoomworld import generate
    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.trainer import LocalTrainer

    policy = TransformersBackend.from_pretrained(qwen3_dir)
    cfg = TrainConfig(
        data=generate(tmp_path / "zw", 6, seed=2),
        out=tmp_path / "run",
        model=qwen3_dir,
        steps=2,
        prompts_per_step=2,
        rollouts_per_prompt=4,
        lr=1e-3,
        max_new_tokens=64,
        threads=1,
    )
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    records = []
    LocalTrainer(cfg, backend=varied_policy(policy.processor, policy), store=store).run(log=records.append)
    assert len(records) == 2 and records[0]["trained_trajectories"] > 0 and records[0]["tool_call_rate"] > 0
    assert any(not torch.equal(before[k], v) for k, v in policy.model.state_dict().items())


def test_openrlhf_contract_and_actor(qwen3, qwen3_dir, scene_path, tmp_path, monkeypatch):
    """OpenRLHF's loader, its response check, its Experience and its Actor (the model it trains) on Qwen3-VL."""
    from openrlhf_harness import VLLMShapedEngine, openrlhf_on_cpu, vllm_sampling_params

    from deepeyes_agent.rl.openrlhf import AGENT_FILE
    from deepeyes_agent.rl.openrlhf.response import check_response
    from deepeyes_agent.rl.openrlhf.settings import ENV_VAR, AgentSettings

    settings = AgentSettings(agent=AgentConfig.for_model(qwen3_dir, max_turns=3))
    monkeypatch.setenv(ENV_VAR, str(settings.write(tmp_path / "agent_settings.json")))

    def zoom_then_answer(request, turn):
        return tool_call([450, 466, 500, 533]) if len(request.images) == 1 else answer("checkerboard")

    with openrlhf_on_cpu():
        from openrlhf.models import Actor
        from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator
        from openrlhf.trainer.ray.vllm_engine import _load_agent_executor
        from openrlhf.utils.vlm_utils import merge_mm_train_inputs

        executor = _load_agent_executor(str(AGENT_FILE))
        engine = VLLMShapedEngine(ScriptedBackend(qwen3.processor, zoom_then_answer, model=qwen3), qwen3.processor)
        label = '{"answer": "checkerboard", "options": ["checkerboard", "stripes"], "answer_index": 0}'
        response = asyncio.run(
            executor.execute(
                "What is in the red square?",
                label,
                vllm_sampling_params(max_tokens=64),
                4096,
                qwen3.processor,
                engine,
                images=[str(scene_path)],
            )
        )
        check_response(response, qwen3.model.config.image_token_id, 2)
        assert response["reward"] == pytest.approx(2.0) and response["extra_logs"]["crops"] == 1.0
        experience = SamplesGenerator.__new__(SamplesGenerator)._process_response_into_experience(
            response, max_len=4096
        )
        actor = Actor(str(qwen3_dir), attn_implementation="eager", param_dtype="bf16")
        actor.model.float()
        actor.eval()
        with torch.no_grad():
            logp = actor(
                experience.sequences,
                experience.action_mask,
                attention_mask=experience.attention_mask,
                **merge_mm_train_inputs(experience.mm_train_inputs, "cpu"),
            )
    mask = experience.action_mask.bool()
    assert torch.allclose(logp[mask], experience.rollout_log_probs[mask].float(), atol=1e-3)

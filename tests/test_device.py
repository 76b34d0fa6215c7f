"""Device and precision: one ``--device`` / ``--dtype`` on every command, resolved in one place; every tensor of a
training step on the model's device; bad settings answered in one line before anything is loaded or written."""

import sys

import pytest
import torch
from conftest import answer, tool_call
from simulated_device import move_to_device, simulated_device
from typer.testing import CliRunner

from deepeyes_agent import device as device_module
from deepeyes_agent.backends import ScriptedBackend, TransformersBackend
from deepeyes_agent.cli import app, main
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.device import DeviceUnavailable, PlacementConfig, resolve
from deepeyes_agent.errors import InputError
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.rl.config import TrainConfig
from deepeyes_agent.rl.tensors import collate_trajectories, token_logprobs
from deepeyes_agent.rl.trainer import LocalTrainer


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    """The installed entry point in this process: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["deepeyes-agent", *map(str, args)])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def test_auto_is_the_cpu_in_float32_on_a_machine_without_cuda(tiny_dir):
    assert not torch.cuda.is_available()
    placement = resolve("auto", "auto", model_dir=default_model_dir())
    assert placement.device == torch.device("cpu") and placement.dtype is torch.float32
    backend = TransformersBackend.from_pretrained(tiny_dir)  # the default: auto
    assert backend.device.type == "cpu" and next(backend.model.parameters()).dtype is torch.float32
    assert PlacementConfig().placement().device.type == "cpu"


def test_auto_on_a_gpu_keeps_the_checkpoints_dtype(tiny_dir, tmp_path, monkeypatch):
    """On a GPU ``auto`` is the checkpoint's dtype: bfloat16 for a Qwen folder, float32 for the embedded model
    (trained in float32: in bfloat16 it mis-reads its signs)."""
    import json

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert device_module.resolve_dtype("auto", torch.device("cuda"), default_model_dir()) is torch.float32
    qwen = tmp_path / "qwen"
    qwen.mkdir()
    (qwen / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl", "torch_dtype": "bfloat16"}))
    assert device_module.resolve_dtype("auto", torch.device("cuda"), qwen) is torch.bfloat16
    assert device_module.resolve_dtype("auto", torch.device("cuda"), None) is torch.bfloat16


@pytest.mark.parametrize("command", ["ask", "eval", "select", "train", "pretrain"])
def test_every_command_takes_device_and_dtype(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--device", "--dtype", "--compile"):
        assert flag in result.output, (command, flag)


def test_cuda_without_a_gpu_is_one_line_and_exit_3(tiny_dir, monkeypatch, capsys):
    code, err = run_cli(
        monkeypatch, capsys, "ask", "examples/images/signs.png", "q", "--model", tiny_dir, "--device", "cuda"
    )
    assert code == 3 and err.count("\n") == 1 and "no GPU here" in err and "--device cpu" in err
    with pytest.raises(DeviceUnavailable):
        resolve("cuda:1")


def test_a_dtype_the_device_cannot_run_is_refused(monkeypatch, capsys, tiny_dir):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    with pytest.raises(InputError, match="V100 has no bfloat16"):
        resolve("cuda", "bfloat16")
    monkeypatch.undo()
    code, err = run_cli(
        monkeypatch, capsys, "ask", "examples/images/signs.png", "q", "--model", tiny_dir, "--dtype", "float8"
    )
    assert code == 2 and "float8" in err
    code, err = run_cli(monkeypatch, capsys, "eval", "--data", "x.jsonl", "--out", "o", "--device", "tpu")
    assert code == 2 and "--device tpu: unknown device" in err


def test_a_model_larger_than_the_free_memory_is_refused_before_loading(tiny_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(device_module, "free_bytes", lambda device: 1024**2)  # 1 MiB free
    code, err = run_cli(monkeypatch, capsys, "ask", "examples/images/signs.png", "q", "--model", tiny_dir)
    assert code == 2 and err.count("\n") == 1
    assert str(tiny_dir) in err and "GiB in float32" in err and "0.0 GiB free" in err
    out = tmp_path / "run"
    data = generate(tmp_path / "zw", 2, seed=1)
    code, err = run_cli(monkeypatch, capsys, "train", "--data", data, "--out", out, "--model", tiny_dir, "--steps", "1")
    assert code == 2 and "GiB free" in err and not (out / "checkpoint").exists()  # nothing half-written


def test_the_simulated_device_catches_a_batch_left_on_the_host(backend, processor, scene_path):
    """The test below is not vacuous: a forward with the batch on the CPU and the model on the (simulated)
    device fails as it does on a GPU ("Expected all tensors to be on the same device")."""
    from deepeyes_agent.models.forward import score_tokens

    model = TransformersBackend.from_pretrained(backend.model_dir).model
    image = __import__("PIL.Image").Image.open(scene_path).convert("RGB")
    from deepeyes_agent.prompts import PromptBuilder

    ids = PromptBuilder(processor).prompt_ids(image, "What is here?")
    on_cpu = score_tokens(model, processor, ids, [image])
    with simulated_device():
        move_to_device(model)
        assert next(model.parameters()).device.type == "meta"
        on_device = score_tokens(model, processor, ids, [image])  # moves its inputs: same numbers
        assert torch.allclose(on_device, on_cpu, atol=1e-5)
        batch = torch.tensor([ids])
        with pytest.raises(RuntimeError, match="same device"):
            model.model(input_ids=batch)


def test_a_training_step_keeps_every_tensor_on_the_models_device(tiny_dir, tmp_path, store):
    """Rollouts (teacher-forced through the model), the batch, advantages, the loss, the optimizer step and the
    weight-moved sample all live on the model's device: on a machine without a GPU the model is put on a simulated
    second device whose tensors refuse to meet host tensors, as CUDA's do."""
    data = generate(tmp_path / "zw", 6, seed=2)
    policy = TransformersBackend.from_pretrained(tiny_dir)
    vision_start = policy.processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")

    def script(request, _):  # by the episode's own seed: the same episodes whatever order their requests come in
        if request.prompt_ids.count(vision_start) == 1 and request.sampling.seed % 3 == 0:
            return tool_call([20, 20, 120, 120])
        return answer("AB"[request.sampling.seed % 2])

    cfg = TrainConfig(
        data=data, out=tmp_path / "run", steps=1, prompts_per_step=2, rollouts_per_prompt=4, lr=1e-3,
        max_new_tokens=64, threads=1, grpo={"kl_coef": 0.1},
    )  # fmt: skip
    with simulated_device():
        move_to_device(policy.model)
        trainer = LocalTrainer(cfg, backend=ScriptedBackend(policy.processor, script, model=policy), store=store)
        before = {k: v.inner.clone() for k, v in policy.model.state_dict().items()}
        record = trainer.train_step(0)
        trainer.save(1)
    assert record["trained_trajectories"] > 0 and record["weights_moved"] > 0.9 and record["kl"] >= 0
    after = policy.model.state_dict()
    assert any(not torch.equal(before[k], after[k].inner) for k in before)
    saved = TransformersBackend.from_pretrained(tmp_path / "run" / "checkpoint").model.state_dict()
    assert all(torch.equal(saved[k], after[k].inner) for k in saved)


def test_pretraining_keeps_every_tensor_on_its_device(tmp_path):
    """Two pretraining steps of a fresh tiny model on the simulated device: batch, auxiliary probes and their
    targets, losses, the skill probe at the end and the checkpoint."""
    from deepeyes_agent.models.tiny import TinyModelSpec
    from deepeyes_agent.pretrain.config import PretrainConfig
    from deepeyes_agent.pretrain.train import run

    cfg = PretrainConfig(
        out=tmp_path / "pt", steps=2, batch_size=4, eval_every=1000, eval_samples=2, threads=1, spec=TinyModelSpec(),
        colour_binding_weight=0.5,
    ).model_copy(update={"device": "meta"})  # fmt: skip
    with simulated_device():
        checkpoint = run(cfg, log=lambda line: None)
    assert (checkpoint / "COMPLETE").read_text() == "2"
    assert TransformersBackend.from_pretrained(checkpoint).device.type == "cpu"


def test_collate_then_move_puts_the_whole_batch_on_the_device(backend, processor, scene_path, store):
    from deepeyes_agent.graphs import AgentConfig, create_visual_agent
    from deepeyes_agent.trajectory import Trajectory

    scripted = ScriptedBackend(processor, [tool_call([100, 100, 300, 300]), answer("A")], model=backend)
    agent = create_visual_agent(scripted, config=AgentConfig(), image_store=store)
    traj = Trajectory.from_state(agent.invoke({"image": str(scene_path), "question": "What is here?"}))
    batch = collate_trajectories(
        [traj], [[store.get(r) for r in traj.images]], processor.image_processor,
        backend.model.config.image_token_id, backend.pad_token_id,
    )  # fmt: skip
    model = TransformersBackend.from_pretrained(backend.model_dir).model  # (loading uses "meta" itself: outside)
    with simulated_device() as device:
        moved = batch.to(device)
        tensors = [
            moved.input_ids,
            moved.attention_mask,
            moved.mm_token_type_ids,
            moved.action_mask,
            moved.old_logprobs,
        ]
        assert all(t.device == device for t in tensors + list(moved.vision.values()))
        move_to_device(model)
        logp, _ = token_logprobs(model, moved)
        with pytest.raises(RuntimeError, match="same device"):
            token_logprobs(model, batch)
    assert logp.shape == batch.old_logprobs.shape

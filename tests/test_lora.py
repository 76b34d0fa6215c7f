"""LoRA RL (peft): only the language model's adapters train, in float32; a checkpoint holds the merged model (what
eval, ask and vLLM load) and the adapter in peft's layout; a resumed run continues exactly."""

import json

import pytest
import torch
from conftest import answer, tool_call
from test_device import run_cli

from deepeyes_agent.backends import ScriptedBackend, TransformersBackend
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.errors import InputError
from deepeyes_agent.rl.config import LoraSettings, TrainConfig
from deepeyes_agent.rl.lora import adapters_disabled, add_adapters, merged_weights
from deepeyes_agent.rl.trainer import LocalTrainer


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("zw"), 6, seed=2)


def scripted(policy):
    vision_start = policy.processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")

    def script(request, turn):
        if request.prompt_ids.count(vision_start) == 1 and request.sampling.seed % 3 == 0:
            return tool_call([20, 20, 120, 120])
        return answer("AB"[request.sampling.seed % 2])

    return ScriptedBackend(policy.processor, script, model=policy)


def lora_run(tiny_dir, rows, out, store, steps: int, resume: bool = False) -> TransformersBackend:
    policy = TransformersBackend.from_pretrained(tiny_dir)
    cfg = TrainConfig(
        data=rows, out=out, model=tiny_dir, steps=steps, prompts_per_step=2, rollouts_per_prompt=4, lr=1e-2,
        max_new_tokens=64, save_every=1, threads=1, lora=LoraSettings(rank=4),
    )  # fmt: skip
    LocalTrainer(cfg, backend=scripted(policy), store=store).run(log=lambda r: None)
    return policy


def ids_of(processor):
    return torch.tensor([processor.tokenizer("<|im_start|>user\nWhat pattern is on the sign?")["input_ids"]])


def test_two_lora_steps_train_only_the_adapters_and_export_the_merged_model(tiny_dir, rows, tmp_path, store):
    start = TransformersBackend.from_pretrained(tiny_dir).model.state_dict()
    policy = lora_run(tiny_dir, rows, tmp_path / "run", store, steps=2)
    model = policy.model
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n and "language_model" in n for n in trained)  # not the vision tower
    assert all(p.dtype is torch.float32 for n, p in model.named_parameters() if n in trained)
    base = {n.replace(".base_layer.", "."): t for n, t in model.state_dict().items() if "lora_" not in n}
    assert all(torch.equal(base[k], start[k]) for k in start)  # the base weights never moved
    ids = ids_of(policy.processor)
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        with adapters_disabled(model):
            assert not torch.allclose(model(input_ids=ids).logits, adapted)  # the adapters learned something
    checkpoint = tmp_path / "run" / "checkpoint"
    merged = TransformersBackend.from_pretrained(checkpoint).model  # a plain model folder: eval, ask, vLLM
    assert not any("lora_" in n for n in merged.state_dict())
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, adapted, atol=1e-4)
    from peft import PeftModel  # the adapter in peft's own layout

    base_model = TransformersBackend.from_pretrained(tiny_dir).model
    with torch.no_grad():
        reloaded = PeftModel.from_pretrained(base_model, checkpoint / "adapter")(input_ids=ids).logits
    assert torch.allclose(reloaded, adapted, atol=1e-5)


def test_a_resumed_lora_run_continues_exactly(tiny_dir, rows, tmp_path, store):
    whole = lora_run(tiny_dir, rows, tmp_path / "whole", store, steps=2).model
    lora_run(tiny_dir, rows, tmp_path / "parts", store, steps=1)
    resumed = lora_run(tiny_dir, rows, tmp_path / "parts", store, steps=2).model  # resumes from step 1
    adapters = lambda m: {n: p for n, p in m.named_parameters() if "lora_" in n}  # noqa: E731
    assert all(torch.equal(adapters(whole)[n], p) for n, p in adapters(resumed).items())


def test_the_merged_weights_are_the_plain_models_names(tiny_dir):
    model = TransformersBackend.from_pretrained(tiny_dir).model
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()  # written once, as the embeddings
    names = set(model.state_dict()) - tied
    add_adapters(model, LoraSettings(rank=2, target_modules=["q_proj", "v_proj"]))
    assert {name for name, _ in merged_weights(model)} == names
    layer = model.model.language_model.layers[0].self_attn
    assert hasattr(layer.q_proj, "lora_A") and not hasattr(layer.k_proj, "lora_A")
    with pytest.raises(InputError, match="not found"):
        add_adapters(TransformersBackend.from_pretrained(tiny_dir).model, LoraSettings(rank=2, target_modules=["nope"]))


def test_lora_rl_of_the_embedded_model_from_the_command_line_then_ask_the_merged_checkpoint(
    rows, tmp_path, monkeypatch, capsys
):
    """Two LoRA steps of the embedded model (its real rollouts), then `ask` on the merged checkpoint."""
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "images"))
    out = tmp_path / "cli"
    code, err = run_cli(
        monkeypatch, capsys, "train", "--data", rows, "--out", out, "--steps", "2",
        "--lora-rank", "8", "--lora-alpha", "16", "--prompts-per-step", "2", "--rollouts-per-prompt", "4",
        "--max-new-tokens", "64", "--threads", "1", "--lr", "1e-3",
    )  # fmt: skip
    assert code in (0, None), err
    assert (out / "checkpoint" / "adapter" / "adapter_config.json").exists()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2 and all("weights_moved" in m for m in metrics)
    code, err = run_cli(
        monkeypatch, capsys, "ask", "examples/images/signs.png", "What is here?", "--model", out / "checkpoint",
        "--max-new-tokens", "8",
    )  # fmt: skip
    assert code in (0, None), err


def test_a_peft_lora_config_is_taken_as_trl_takes_it(tiny_dir, rows, tmp_path, store):
    """``LocalTrainer(cfg, peft_config=peft.LoraConfig(...))``: peft's own config (here: q and v only, rank 2); its
    adapter is saved in peft's layout with that config."""
    from peft import LoraConfig

    policy = TransformersBackend.from_pretrained(tiny_dir)
    cfg = TrainConfig(data=rows, out=tmp_path / "run", model=tiny_dir, steps=1, prompts_per_step=2,
                      rollouts_per_prompt=4, lr=1e-2, max_new_tokens=64, threads=1)  # fmt: skip
    config = LoraConfig(r=2, lora_alpha=4, target_modules=r".*language_model\..*\.(q_proj|v_proj)")
    LocalTrainer(cfg, backend=scripted(policy), store=store, peft_config=config).run(log=lambda r: None)
    trained = {n for n, p in policy.model.named_parameters() if p.requires_grad}
    assert trained and all(".q_proj.lora_" in n or ".v_proj.lora_" in n for n in trained)
    saved = json.loads((tmp_path / "run" / "checkpoint" / "adapter" / "adapter_config.json").read_text())
    assert saved["r"] == 2 and saved["lora_alpha"] == 4 and saved["base_model_name_or_path"] == str(tiny_dir)

"""The GPU path's memory and precision, shown on the CPU where the mechanism allows: a LoRA merge that keeps what it
can of an update and never holds a second model; generation that keeps no logits and a KV cache sized for each call,
in the compute dtype when the trained weights are float32 masters; gradients freed after a step; the KL reference in
the compute dtype; a caller's bfloat16 model given float32 masters; a weights-moved metric whose cost does not grow
with the model; a backend freed the moment it is dropped."""

from __future__ import annotations

import gc
import json
import weakref

import pytest
import torch

from deepeyes_agent.backends import GenerationRequest, SamplingParams, TransformersBackend
from deepeyes_agent.precision import MovedWeights
from deepeyes_agent.rl.config import LoraSettings, TrainConfig
from deepeyes_agent.rl.lora import MergeReport, add_adapters, merged_weights, save_merged
from deepeyes_agent.rl.trainer import LocalTrainer


class Layers(torch.nn.Module):
    """A stand-in for a language model's linear layers (the names LoRA's target pattern matches)."""

    def __init__(self, n: int, width: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = torch.nn.Module()
        self.language_model.layers = torch.nn.ModuleList(
            torch.nn.ModuleDict({"q_proj": torch.nn.Linear(width, width, bias=False, dtype=dtype)}) for _ in range(n)
        )
        with torch.no_grad():
            for layer in self.language_model.layers:
                layer["q_proj"].weight.normal_(0, 0.02)  # Qwen-like weight scale


def trained_a_little(model: torch.nn.Module, scale: float) -> None:
    """Adapters as a few AdamW steps at a small learning rate leave them: B of order ``scale``."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, scale)


@pytest.mark.parametrize("dtype, kept", [(torch.bfloat16, "little"), (torch.float32, "all")])
def test_the_merge_keeps_what_the_base_dtype_can_hold_and_says_how_much(dtype, kept):
    model = add_adapters(Layers(2, 256, dtype), LoraSettings(rank=8, target_modules=["q_proj"]))
    trained_a_little(model, 1e-5)  # an early update: deltas of ~2e-6, far below bfloat16's step near 0.02
    report = MergeReport()
    dict(merged_weights(model, report))
    if kept == "little":
        assert (
            report.share < 0.05
        )  # merged into bfloat16, the update is (almost) all lost — hence vLLM gets the adapter
    else:
        assert report.share > 0.95


def peak_tensor_bytes(fn) -> tuple[object, int]:
    """``fn()`` and the peak of the tensor memory it held on the CPU beyond what existed before (torch's profiler
    counts every allocation and free; the process's RSS would not show memory the allocator keeps after a free)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    live = peak = 0
    for event in sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return out, peak


def test_saving_a_merged_model_holds_one_layer_and_one_shard_at_a_time(tmp_path):
    """The merge computes a layer, writes it to its shard and lets it go: it holds about a shard, not a merged model
    and every delta (what the whole-model merge held: twice the adapted weights)."""
    model = add_adapters(Layers(16, 1024, torch.float32), LoraSettings(rank=8, target_modules=["q_proj"]))
    trained_a_little(model, 1e-2)
    model.config = type("Config", (), {"save_pretrained": lambda self, folder: None})()
    layer_bytes = 1024 * 1024 * 4
    report, peak = peak_tensor_bytes(lambda: save_merged(model, tmp_path, max_shard_bytes=2 * layer_bytes))
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert report.share > 0.9 and len(index["weight_map"]) == 16 and len(set(index["weight_map"].values())) == 8
    assert peak <= 5 * layer_bytes, f"held {peak / layer_bytes:.1f} layers of a 16-layer model"


def _request(backend, n_tokens: int) -> GenerationRequest:
    ids = backend.tokenizer("<|im_start|>user\n" + "word " * n_tokens + "<|im_end|>\n<|im_start|>assistant\n")
    return GenerationRequest(ids["input_ids"], [], SamplingParams(max_tokens=8, temperature=0.0))


def test_generation_keeps_no_logits_and_sizes_its_cache_for_each_call(backend, monkeypatch):
    seen = []
    generate = backend.model.generate

    def spy(*args, **kwargs):
        out = generate(*args, **kwargs)
        seen.append((kwargs["generation_config"].output_logits, out.logits, backend.model._previous_max_cache_length))
        return out

    monkeypatch.setattr(backend.model, "generate", spy)
    long, short = _request(backend, 400), _request(backend, 10)
    backend.generate([long])
    backend.generate([short])
    assert all(not keep and logits is None for keep, logits, _ in seen)  # no (batch, vocab) tensor per step
    assert seen[1][2] < seen[0][2] / 4  # the short call's static cache is its own size, not the long call's
    greedy = backend.generate([short])[0]
    forced = backend.force(short, greedy.token_ids)  # the chosen tokens' logprobs, taken as they were chosen
    assert greedy.logprobs == pytest.approx(forced.logprobs, abs=1e-5)


def test_a_mixed_precision_trainer_rolls_out_in_the_compute_dtype_and_frees_its_gradients(tiny_dir, tmp_path, store):
    """float32 master weights, bfloat16 compute (what a GPU runs; bfloat16 runs on the CPU too): the rollouts generate
    under autocast, the KL reference is kept in bfloat16, and no gradient outlives the update."""
    from deepeyes_agent.data.zoomworld import generate

    rows = generate(tmp_path / "zw", 2, seed=1)
    cfg = TrainConfig(data=rows, out=tmp_path / "run", model=tiny_dir, steps=1, prompts_per_step=1,
                      rollouts_per_prompt=2, max_new_tokens=16, max_turns=2, dtype="bfloat16", threads=1,
                      grpo={"kl_coef": 0.01}, lr=1e-3)  # fmt: skip
    trainer = LocalTrainer(cfg, store=store)
    assert trainer.backend.autocast is torch.bfloat16 and trainer.model.dtype is torch.float32
    assert next(trainer.reference.parameters()).dtype is torch.bfloat16  # half a float32 copy's memory
    episodes = trainer.rollout(0)  # generates under bfloat16 autocast (a dynamic cache: no dtype clash)
    assert all(e.trajectory.turns for e in episodes)
    trainer.update(episodes)
    assert all(p.grad is None for p in trainer.trained)  # gradients freed with the step, not held to the next


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_callers_half_precision_model_gets_float32_masters(dtype, tiny_dir, tmp_path, store):
    from deepeyes_agent.data.zoomworld import generate

    rows = generate(tmp_path / "zw", 2, seed=1)
    caller = TransformersBackend.from_pretrained(tiny_dir, dtype=dtype)
    cfg = TrainConfig(data=rows, out=tmp_path / "run", steps=1, prompts_per_step=1, rollouts_per_prompt=2,
                      max_new_tokens=16, max_turns=2, threads=1, lr=1e-3, precision="mixed")  # fmt: skip
    trainer = LocalTrainer(cfg, backend=caller, store=store)
    assert all(p.dtype is torch.float32 for p in trainer.trained) and trainer.precision.compute is dtype
    record = trainer.update(trainer.rollout(0))  # float16: loss scaling on float32 masters, no unscale error
    assert record["trained_trajectories"] == 0 or record["weights_moved"] > 0.5


def test_the_weights_moved_sample_costs_its_size_not_the_models(monkeypatch):
    def no_permutation(*args, **kwargs):
        raise AssertionError("a permutation of every trained element (minutes for a 3B)")

    monkeypatch.setattr(torch, "randperm", no_permutation)
    params = [torch.nn.Parameter(torch.zeros(4_000_000)), torch.nn.Parameter(torch.zeros(1_000))]
    moved = MovedWeights(params, n=4096)
    assert sum(len(idx) for _, idx in moved.samples) == 4096
    before = moved.snapshot()
    with torch.no_grad():
        params[0].add_(1.0)
    assert moved.share(before) > 0.99


def test_a_dropped_backend_frees_its_model_at_once(tiny_dir):
    """No reference cycle (backend ↔ batcher, image finalizers): dropping the backend frees the model without a
    garbage collection — a benchmark phase or a trainer that lets a 7B go gets its memory back."""
    import asyncio

    from PIL import Image

    backend = TransformersBackend.from_pretrained(tiny_dir)
    image = Image.new("RGB", (224, 224), "red")
    ids = backend.processor.tokenizer("<|vision_start|><|image_pad|><|vision_end|>hi")["input_ids"]
    from deepeyes_agent.prompts import PromptBuilder

    ids = PromptBuilder(backend.processor).prompt_ids(image, "What colour?")
    asyncio.run(backend.agenerate(GenerationRequest(ids, [image], SamplingParams(max_tokens=4, temperature=0.0))))
    model = weakref.ref(backend.model)
    gc.disable()
    try:
        del backend
        assert model() is None
    finally:
        gc.enable()
    assert image.size == (224, 224)  # the image it processed is still alive: its finalizer held nothing

"""The library at real sizes on one device: Qwen2.5-VL-7B's / 3B's published configurations (random weights built
on the device: nothing is downloaded) through the library's own backend, graph and trainer. Each phase runs in a
process of its own (it frees everything it built by ending: no phase inherits another's memory) and prints one JSON
line with its device and host peaks; ``--budget-s`` skips a phase that would not finish in what is left:

- ``ask_1mp``: the 7B built on the device (seconds, size), one ``ask`` turn on a 1280×800 image (seconds, the view
  and its image tokens, peak memory / weights);
- ``batched``: N concurrent episodes' first turns through ``abatch`` (one generate call): tokens/s and the ratio to
  N = 1 (goal: N = 32 ≥ 0.5·N×);
- ``decode`` / ``decode_compiled``: batch-1 decode ms per token against the HBM limit (weights / bandwidth; goal
  compiled ≥ 40 %), transformers' compile of the static cache timed on its first call;
- ``grpo_lora_7b``: GRPO steps of the 7B with LoRA r=64 (bf16 base, fp32 adapters, autocast, checkpointing) on
  2 episodes of ~1.7k tokens: seconds of steps 2–3, peak memory / bf16 weights (goal ≤ 1.5×);
- ``lora_sync``: a LoRA step, then the rollout engine's logprobs on a fixed request before and after the sync — a
  vLLM engine serving the adapter when vLLM is installed, else a second transformers copy given the merged weights:
  they must move, and equal the trained model's (a sync that silently did nothing fails here);
- ``grpo_full_3b``: the same with the 3B fully trained, float32 master weights + bf16 autocast (goal ≤ 80 GiB);
- ``grpo_full_3b_16``: 16 episodes: model FLOPs utilisation, 6·params·tokens (×4/3 with checkpointing) over the
  chip's bf16 peak (goal ≥ 30 %);
- ``load_7b``: the 7B saved to disk, then loaded as ``--model`` loads it (straight onto the device): the host's peak
  RSS and the device's peak against the weights' bytes (goals: host ≤ 0.3×, device ≤ 1.05×);
- ``ask_8k``: one ``ask`` turn on a 7680×4320 image at the full max_pixels (last: the most memory).

    python benchmarks/gpu.py --device cuda --budget-s 540     # the one script to run on a GPU machine (~9 minutes)
    python benchmarks/gpu.py --device cpu --quick             # the tiny model on the CPU: the script itself, tested

``--peak-tflops`` (989: H100/H200 dense bf16) and ``--hbm-tbps`` (4.8: H200; 3.35: H100) name the machine's limits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from published_configs import build_model, qwen_processor  # noqa: E402

GIB = 1024**3


def scene(width: int, height: int):
    import random

    from deepeyes_agent.data.zoomworld import make_scene, render_scene

    return render_scene(make_scene(random.Random(0), n_signs=3)).resize((width, height))


class Bench:
    """One phase's process: the device, the output file (appended: every phase writes its line), the peaks."""

    def __init__(self, args):
        self.args = args
        self.device = torch.device(args.device)
        self.gpu = self.device.type == "cuda"
        self.out = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.lines = (self.out / "gpu.jsonl").open("a")

    def synchronize(self) -> None:
        if self.gpu:
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.gpu:
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float:
        if self.gpu:
            return torch.cuda.max_memory_allocated(self.device) / GIB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # the process's peak RSS

    def emit(self, phase: str, **values) -> dict:
        peaks = {"host_peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)}
        if self.gpu:
            peaks["device_peak_gib"] = round(torch.cuda.max_memory_allocated(self.device) / GIB, 2)
        record = {"phase": phase, "device": str(self.device), **values, **peaks}
        line = json.dumps(record)
        print(line, flush=True)
        self.lines.write(line + "\n")
        self.lines.flush()
        return record


def weights_gib(model) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / GIB


def backend_for(bench: Bench, name: str, dtype: torch.dtype, max_pixels: int):
    """A library backend around a model built on the device (``tiny`` in quick mode)."""
    from deepeyes_agent.backends import TransformersBackend
    from deepeyes_agent.models.tiny import TinyModelSpec, build_tiny_model

    if name == "tiny":
        model, processor = build_tiny_model(None, TinyModelSpec(max_pixels=max_pixels))
        model = model.to(bench.device, dtype)
    else:
        processor = qwen_processor(max_pixels=max_pixels)
        model = build_model(name, processor, bench.device, dtype)
    return TransformersBackend(model, processor, max_batch_size=64)


def ask_phase(bench: Bench, backend, width: int, height: int, phase: str) -> None:
    from deepeyes_agent.backends import SamplingParams
    from deepeyes_agent.graphs import AgentConfig, create_visual_agent
    from deepeyes_agent.images import ImageStore
    from deepeyes_agent.trajectory import Trajectory
    from deepeyes_agent.zoom import ViewGeometry

    path = bench.out / f"scene_{width}x{height}.png"
    if not path.exists():
        scene(width, height).save(path)
    config = AgentConfig(max_turns=1, sampling=SamplingParams(max_tokens=bench.args.new_tokens, temperature=0.0))
    agent = create_visual_agent(backend, config=config, image_store=ImageStore(bench.out / "images"))
    question = {"image": str(path), "question": "What pattern is on the red sign?"}
    agent.invoke(question)  # warm: kernels, the pixel cache is per image object (a new one each ask)
    bench.synchronize()
    bench.reset_peak()
    t0 = time.perf_counter()
    traj = Trajectory.from_state(agent.invoke(question))
    bench.synchronize()
    seconds = time.perf_counter() - t0
    geom = ViewGeometry.for_image(width, height, backend.processor.image_processor)
    block = backend.processor.image_processor.patch_size * backend.processor.image_processor.merge_size
    bench.emit(
        phase,
        seconds=round(seconds, 3),
        image=f"{width}x{height}",
        view=f"{geom.view_width}x{geom.view_height}",
        image_tokens=geom.view_width * geom.view_height // block**2,
        generated=len(traj.response_ids()),
        peak_gib=round(bench.peak_gib(), 2),
        peak_over_weights=round(bench.peak_gib() / weights_gib(backend.model), 3) if bench.gpu else None,
    )


def batched_phase(bench: Bench, backend, sizes: list[int]) -> None:
    """N requests at once (what N concurrent episodes' first turns are): one batched generate."""
    from deepeyes_agent.backends import GenerationRequest, SamplingParams
    from deepeyes_agent.prompts import PromptBuilder

    image = scene(1280, 800)
    ids = PromptBuilder(backend.processor).prompt_ids(image, "What pattern is on the red sign?")
    sampling = SamplingParams(max_tokens=bench.args.new_tokens, temperature=1.0)

    async def run(n: int):
        backend.expect(n)
        requests = [GenerationRequest(ids, [image], sampling.model_copy(update={"seed": k})) for k in range(n)]
        return await asyncio.gather(*(backend.agenerate(r) for r in requests))

    asyncio.run(run(1))  # warm
    base = None
    for n in sizes:
        bench.synchronize()
        t0 = time.perf_counter()
        done = asyncio.run(run(n))
        bench.synchronize()
        seconds = time.perf_counter() - t0
        rate = sum(len(c.token_ids) for c in done) / seconds
        base = base or rate
        bench.emit(f"batched_n{n}", seconds=round(seconds, 3), tokens_per_s=round(rate, 1), ratio=round(rate / base, 2))


def decode_phase(bench: Bench, backend, compile: bool) -> None:
    """Batch-1 decode, ms per token: the slope between a short and a long forced continuation (prefill cancels)."""
    from deepeyes_agent.backends import GenerationRequest, SamplingParams

    backend.compile = compile
    ids = backend.tokenizer("<|im_start|>user\nDescribe the image.<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
    request = GenerationRequest(ids, [], SamplingParams(max_tokens=256, temperature=0.0))
    token = backend.tokenizer.convert_tokens_to_ids("<think>")
    short, long = 16, bench.args.decode_tokens

    def timed(n: int) -> float:
        bench.synchronize()
        t0 = time.perf_counter()
        backend.force(request, [token] * n)
        bench.synchronize()
        return time.perf_counter() - t0

    first = timed(long)  # with compile: this call compiles
    per_token = (min(timed(long) for _ in range(2)) - min(timed(short) for _ in range(2))) / (long - short)
    limit_ms = weights_gib(backend.model) * GIB / (bench.args.hbm_tbps * 1e12) * 1e3
    bench.emit(
        "decode_compiled" if compile else "decode",
        ms_per_token=round(per_token * 1e3, 2),
        hbm_limit_ms=round(limit_ms, 2) if bench.gpu else None,
        share_of_hbm_limit=round(limit_ms / (per_token * 1e3), 3) if bench.gpu else None,
        first_call_s=round(first, 1),
    )
    backend.compile = False


def grpo_phase(bench: Bench, backend, phase: str, *, episodes: int, lora_rank: int, steps: int = 3) -> None:
    """GRPO updates through the library's trainer on episodes of ~1.7k tokens (a 1-MP image, a long reasoning),
    half answering right: the update of ``LocalTrainer`` as a run takes it (precision, LoRA, checkpointing)."""
    from deepeyes_agent.backends import ScriptedBackend
    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.trainer import LocalTrainer

    folder = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    backend.model.config.save_pretrained(folder)  # a model folder without weights: the trainer reads its type
    backend.processor.save_pretrained(folder)
    scene(1280, 800).save(folder / "scene.png")
    row = {"image": "scene.png", "question": "Which pattern?", "options": ["stripes", "dots"], "answer": "stripes"}
    (folder / "rows.jsonl").write_text(json.dumps(row) + "\n")
    words = " ".join(["look"] * bench.args.reasoning_words)

    def script(_request, call):  # one turn per episode: the episodes of a step alternate A and B (2 options)
        return f"<think>{words}</think>\n<answer>{'AB'[call % 2]}</answer><|im_end|>"

    cfg = TrainConfig(
        data=folder / "rows.jsonl", out=folder / "run", model=folder, prompts_per_step=1, rollouts_per_prompt=episodes,
        max_new_tokens=bench.args.reasoning_words * 2 + 16, lr=1e-6, dtype="bfloat16" if bench.gpu else "float32",
        micro_batch=8, lora={"rank": lora_rank}, gradient_checkpointing=True, threads=bench.args.threads,
    )  # fmt: skip
    scripted = ScriptedBackend(backend.processor, script)
    trainer = LocalTrainer(cfg, backend=backend, rollout_backend=scripted, store=None)
    trained = sum(p.numel() for p in trainer.trained)
    times, record = [], {}
    bench.reset_peak()
    for step in range(steps):
        batch = trainer.rollout(step)
        bench.synchronize()
        t0 = time.perf_counter()
        record = trainer.update(batch)
        bench.synchronize()
        times.append(time.perf_counter() - t0)
    steady = sum(times[1:]) / max(1, len(times) - 1)
    tokens = record["trained_tokens"]
    params = sum(p.numel() for p in backend.model.parameters())
    flops = 6 * params * tokens * 4 / 3  # forward + backward, the forward again under checkpointing
    bf16_weights = params * 2 / GIB
    bench.emit(
        phase,
        steady_s=round(steady, 3),
        step_s=[round(t, 3) for t in times],
        trained_tokens=tokens,
        tokens_per_s=round(tokens / steady, 1),
        trained_parameters=trained,
        weights_moved=record["weights_moved"],
        peak_gib=round(bench.peak_gib(), 2),
        peak_over_bf16_weights=round(bench.peak_gib() / bf16_weights, 3) if bench.gpu else None,
        mfu=round(flops / steady / (bench.args.peak_tflops * 1e12), 3) if bench.gpu else None,
    )
    del trainer


def lora_sync_phase(bench: Bench, name: str) -> None:
    """A LoRA step, then what the rollout engine serves: its logprobs on a fixed request before and after the sync
    must differ and equal the trained model's (adapters on) — a vLLM engine given the adapter when vLLM is installed,
    else a second transformers copy given the merged weights."""
    from deepeyes_agent.backends import GenerationRequest, SamplingParams, ScriptedBackend, TransformersBackend
    from deepeyes_agent.prompts import PromptBuilder
    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.trainer import LocalTrainer

    dtype = torch.bfloat16 if bench.gpu else torch.float32
    trained = backend_for(bench, name, dtype, 1003520)
    folder = Path(tempfile.mkdtemp(prefix="gpu-bench-sync-"))
    trained.model.save_pretrained(folder)  # the engine's starting weights
    trained.processor.save_pretrained(folder)
    image = scene(640, 400)
    image.save(folder / "scene.png")
    row = {"image": "scene.png", "question": "Which pattern?", "options": ["stripes", "dots"], "answer": "stripes"}
    (folder / "rows.jsonl").write_text(json.dumps(row) + "\n")
    try:
        if bench.args.quick:  # the script on a CPU: the transformers engine (the vLLM one has tests of its own)
            raise ImportError("quick")
        from deepeyes_agent.backends.vllm_backend import VLLMBackend, lora_rank_for_vllm

        engine = VLLMBackend(folder, enable_lora=True, max_lora_rank=lora_rank_for_vllm(8), max_model_len=4096)
        kind = "vllm (adapter served)"
    except ImportError:
        engine = TransformersBackend(TransformersBackend.from_pretrained(folder, device=bench.device, dtype=dtype).model,
                                     trained.processor)  # fmt: skip
        engine.serves_adapters = False
        kind = "transformers (merged weights)"
    ids = PromptBuilder(trained.processor).prompt_ids(image, "Which pattern?")
    request = GenerationRequest(ids, [image], SamplingParams(max_tokens=8, temperature=0.0))
    forced = trained.tokenizer("<think>stripes</think>", add_special_tokens=False)["input_ids"]
    before = engine.force(request, forced) if hasattr(engine, "force") else engine.generate([request])[0]

    def script(_request, call):
        return f"<think>look</think>\n<answer>{'AB'[call % 2]}</answer><|im_end|>"

    cfg = TrainConfig(
        data=folder / "rows.jsonl", out=folder / "run", model=folder, prompts_per_step=1, rollouts_per_prompt=2,
        max_new_tokens=32, lr=1e-2, dtype="bfloat16" if bench.gpu else "float32", lora={"rank": 8},
        threads=bench.args.threads, save_every=100,
    )  # fmt: skip
    trainer = LocalTrainer(cfg, backend=trained, rollout_backend=ScriptedBackend(trained.processor, script))
    trainer.update(trainer.rollout(0))
    trainer.rollout_backend = engine
    t0 = time.perf_counter()
    trainer.sync_weights(1)
    sync_s = time.perf_counter() - t0
    if hasattr(engine, "force"):
        after, reference = engine.force(request, forced), trained.force(request, forced)
    else:
        after, reference = engine.generate([request])[0], trained.generate([request])[0]
    moved = max(abs(a - b) for a, b in zip(after.logprobs, before.logprobs))
    gap = max(abs(a - b) for a, b in zip(after.logprobs, reference.logprobs))
    bench.emit(
        "lora_sync",
        engine=kind,
        sync_s=round(sync_s, 3),
        engine_logprobs_moved=round(moved, 5),
        engine_vs_trained=round(gap, 5),
        synced=moved > 1e-4,
    )
    if moved <= 1e-4:
        raise SystemExit("lora_sync: the engine's logprobs did not move after the sync: it did not receive the update")


def load_phase(bench: Bench, name: str) -> None:
    """The model saved to disk, freed, then loaded as ``--model`` loads it: host and device peaks of the load."""
    import gc

    import psutil

    from deepeyes_agent.backends import TransformersBackend

    dtype = torch.bfloat16 if bench.gpu else torch.float32
    folder = Path(tempfile.mkdtemp(prefix="gpu-bench-load-"))
    built = backend_for(bench, name, dtype, 1003520)
    weights = weights_gib(built.model)
    built.model.save_pretrained(folder)
    built.processor.save_pretrained(folder)
    del built
    gc.collect()
    if bench.gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(bench.device)
    process, peak, done = psutil.Process(), [0], threading.Event()
    start_rss = process.memory_info().rss

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss - start_rss)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    loaded = TransformersBackend.from_pretrained(folder, device=bench.device, dtype=dtype)
    bench.synchronize()
    seconds = time.perf_counter() - t0
    done.set()
    watcher.join()
    device_peak = torch.cuda.max_memory_allocated(bench.device) / GIB if bench.gpu else None
    bench.emit(
        f"load_{name}",
        seconds=round(seconds, 2),
        weights_gib=round(weights, 2),
        host_growth_gib=round(peak[0] / GIB, 2),
        host_over_weights=round(peak[0] / GIB / weights, 3),
        device_over_weights=round(device_peak / weights, 3) if device_peak is not None else None,
        parameters=sum(p.numel() for p in loaded.model.parameters()),
    )


# phase → (what it builds, a conservative estimate of its seconds on an H100 including its process's start)
PHASES = {
    "ask_1mp": 45,
    "batched": 50,
    "decode": 45,
    "grpo_lora_7b": 75,
    "lora_sync": 90,
    "grpo_full_3b": 70,
    "grpo_full_3b_16": 90,
    "load_7b": 120,
    "decode_compiled": 100,
    "ask_8k": 50,
}


def run_phase(args, phase: str) -> None:
    """One phase, in this process."""
    torch.set_num_threads(args.threads)
    bench = Bench(args)
    big, small = ("tiny", "tiny") if args.quick else ("7b", "3b")
    dtype = torch.bfloat16 if bench.gpu else torch.float32
    full_pixels = 448 * 448 if args.quick else 12845056
    if phase in ("ask_1mp", "ask_8k", "batched", "decode", "decode_compiled", "grpo_lora_7b"):
        t0 = time.perf_counter()
        backend = backend_for(bench, big, dtype, full_pixels)
        bench.synchronize()
        if phase == "ask_1mp":
            bench.emit(
                "build",
                model=big,
                seconds=round(time.perf_counter() - t0, 2),
                parameters=sum(p.numel() for p in backend.model.parameters()),
                weights_gib=round(weights_gib(backend.model), 2),
                dtype=str(dtype),
            )
            ask_phase(bench, backend, 1280, 800, "ask_1mp")
        elif phase == "ask_8k":
            ask_phase(bench, backend, 7680, 4320, "ask_8k")
        elif phase == "batched":
            batched_phase(bench, backend, [1, 4] if args.quick else [1, 8, 32])
        elif phase.startswith("decode"):
            decode_phase(bench, backend, compile=phase == "decode_compiled")
        else:
            grpo_phase(bench, backend, f"grpo_lora_{big}", episodes=2, lora_rank=8 if args.quick else 64)
    elif phase.startswith("grpo_full"):
        backend = backend_for(bench, small, torch.float32, 1003520)  # float32 master weights, bf16 autocast
        many = phase.endswith("_16")
        grpo_phase(bench, backend, f"grpo_full_{small}" + ("_16" if many else ""),
                   episodes=(4 if args.quick else 16) if many else 2, lora_rank=0)  # fmt: skip
    elif phase == "lora_sync":
        lora_sync_phase(bench, small)
    elif phase == "load_7b":
        load_phase(bench, big)
    else:
        raise SystemExit(f"unknown phase {phase!r}: one of {', '.join(PHASES)}")


def phase_argv(argv: list[str]) -> list[str]:
    """The script's own arguments for a phase's process: all but the budget (the parent keeps the time)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--budget-s":
            skip = True
        elif not arg.startswith("--budget-s="):
            out.append(arg)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="the tiny model, small images, small batches")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu"))
    parser.add_argument("--budget-s", type=float, default=None, help="skip phases that would not finish in this time")
    parser.add_argument("--phase", default=None, help="run one phase in this process (what the script does for each)")
    parser.add_argument("--in-process", action="store_true", help="every phase in this process (a quicker test run)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--reasoning-words", type=int, default=300, help="~ tokens of each GRPO episode's reply")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the chip's dense bf16 peak")
    parser.add_argument("--hbm-tbps", type=float, default=4.8, help="the chip's memory bandwidth, TB/s")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip", nargs="*", default=[], help="phases to leave out (ask_8k, grpo_full_3b_16, …)")
    args = parser.parse_args()
    if args.phase:
        run_phase(args, args.phase)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu.jsonl").write_text("")
    start, failed = time.perf_counter(), []
    for phase, estimate in PHASES.items():
        if phase in args.skip or (phase == "decode_compiled" and args.device == "cpu"):
            continue
        left = None if args.budget_s is None else args.budget_s - (time.perf_counter() - start)
        if left is not None and left < estimate:
            print(json.dumps({"phase": phase, "skipped": f"{left:.0f} s left of the budget, ~{estimate} s needed"}))
            continue
        try:
            if args.in_process:
                run_phase(args, phase)
                code = 0
            else:
                command = [sys.executable, __file__, *phase_argv(sys.argv[1:]), "--phase", phase]
                code = subprocess.run(command, timeout=left).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        if code != 0:
            failed.append(phase)
            print(json.dumps({"phase": phase, "failed": f"exit {code}"}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
